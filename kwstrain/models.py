"""Model builders: the original study's three networks and our default ``vgg_small``.

Every builder takes the feature shape ``(frames, bins)`` and the number of classes
and returns an uncompiled Keras model whose input is ``(frames, bins, 1)`` features and
whose output is softmax probabilities.

The study fed 98x98 "images" to all three of its models (its summaries show a 9604-wide
flatten and 96x96 first convolutions). Our features are 98 frames x N bins, so those
models start with a bilinear ``Resizing(98, 98)``: the only adaptation, and it keeps
their layer sizes and parameter counts identical to the study's tables.
"""
from __future__ import annotations

import keras
from keras import layers

STUDY_INPUT = (98, 98)


def _input(shape):
    return keras.Input(shape=(shape[0], shape[1], 1), name="features")


def stacked_fc(shape, classes: int, dropout: float = 0.2, units: int = 512, depth: int = 3):
    """The study's ``simple_stacked_fc_nn(98, 98, depth=3, units_x_layer=512)``."""
    inp = _input(shape)
    x = layers.Resizing(*STUDY_INPUT)(inp)
    x = layers.Flatten()(x)
    for _ in range(depth):
        x = layers.Dense(units, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="stacked_fc")


def simple_cnn(shape, classes: int, dropout: float = 0.35):
    """The study's ``simple_cnn(98, 98, 12)``: its filter counts are the input width (98)."""
    width = STUDY_INPUT[0]
    inp = _input(shape)
    x = layers.Resizing(*STUDY_INPUT)(inp)
    x = layers.Conv2D(width, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(width * 2, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(width * 2, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(width * 2, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="simple_cnn")


def custom_vgg(shape, classes: int, dropout: float = 0.5):
    """The study's ``custom_vgg``: VGG16 without conv1 and conv5 blocks, dense 512.

    The study's code shows dropout 0.4; its refinement settled on 0.5, our default.
    """
    inp = _input(shape)
    x = layers.Resizing(*STUDY_INPUT)(inp)
    for filters, n in ((64, 2), (128, 3), (256, 3)):
        for _ in range(n):
            x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name="custom_vgg")


def _conv_bn_relu(x, filters):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    # Momentum 0.9 (PyTorch's default) rather than Keras' 0.99: with ~40 steps per epoch on
    # small data, 0.99 leaves the running statistics unsettled for the first few epochs.
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.ReLU()(x)


def vgg_small(shape, classes: int, dropout: float = 0.2):
    """Compact VGG-style net for a 2-core CPU: 3x3 conv + BN + ReLU stacks, pooling,
    channels doubling, global average pooling. About 28 M multiply-adds and 0.14 M
    parameters on 98x40 log-mel input (budget: 30 M, 1 M)."""
    inp, x = _vgg_front(shape)
    x = _conv_bn_relu(x, 128)
    return _vgg_head(inp, x, classes, dropout, "vgg_small")


def _vgg_front(shape):
    """The VGGs' input and first three blocks (32, 32, 64+64 channels, each pooled 2x2)."""
    inp = _input(shape)
    # Log-mel values sit around -14..5, far from unit scale. A fixed per-bin mean/variance,
    # set from the training features by ``adapt_input_norm``, behaves the same in training
    # and inference from the first step (a batch-norm here needed thousands of steps before
    # its running statistics matched, which broke short runs).
    x = layers.Normalization(axis=2, name="input_norm")(inp)
    x = _conv_bn_relu(x, 32)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 32)
    x = layers.MaxPooling2D(2)(x)
    x = _conv_bn_relu(x, 64)
    x = _conv_bn_relu(x, 64)
    return inp, layers.MaxPooling2D(2)(x)


def _vgg_head(inp, x, classes: int, dropout: float, name: str):
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inp, out, name=name)


def vgg_deep(shape, classes: int, dropout: float = 0.2):
    """vgg_small with two more blocks at low resolution (128 and 192 channels after a time-only
    pooling), so that its last units see the whole one-second window (102 frames; vgg_small's
    46) before the average pooling: a reverberant word is smeared over most of the window.
    About 43 M multiply-adds and 0.5 M parameters (round 27)."""
    inp, x = _vgg_front(shape)
    x = _conv_bn_relu(x, 128)
    x = _conv_bn_relu(x, 128)
    x = layers.MaxPooling2D((2, 1))(x)
    x = _conv_bn_relu(x, 192)
    return _vgg_head(inp, x, classes, dropout, "vgg_deep")


# Bumped when a builder's network changes, so saved results of the old one (the study's
# report) are not taken for the new one. vgg_small 2: fixed input normalisation, BN momentum 0.9.
REVISION = {"vgg_small": 2, "vgg_deep": 1}

BUILDERS = {
    "vgg_small": vgg_small,
    "vgg_deep": vgg_deep,
    "stacked_fc": stacked_fc,
    "simple_cnn": simple_cnn,
    "custom_vgg": custom_vgg,
}


def build(name: str, shape, classes: int, dropout: float | None = None):
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(BUILDERS)}")
    kwargs = {} if dropout is None else {"dropout": dropout}
    return BUILDERS[name](shape, classes, **kwargs)


def adapt_input_norm(model, features) -> bool:
    """Set the per-bin mean and variance of a fresh model's ``input_norm`` layer from
    ``features`` (a dataset of un-augmented training feature batches). Returns whether the
    model had such a layer; models without one are left alone."""
    try:
        layer = model.get_layer("input_norm")
    except ValueError:
        return False
    if not isinstance(layer, layers.Normalization):
        return False
    layer.adapt(features)
    return True


def count_macs(model) -> int:
    """Multiply-adds of one forward pass (batch 1): conv, dense and resize layers' matmuls."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, h, w, cout = layer.output.shape
            kh, kw = layer.kernel_size
            cin = layer.input.shape[-1]
            total += h * w * kh * kw * cin * cout // layer.groups
        elif isinstance(layer, layers.Dense):
            total += int(layer.input.shape[-1]) * layer.units
    return int(total)


def transfer_head(base_model_path: str, old_labels, new_labels):
    """The base model with an output layer for ``new_labels``; known labels keep their weights."""
    base = keras.models.load_model(base_model_path, compile=False)
    if tuple(old_labels) == tuple(new_labels):
        return base
    old_head = base.layers[-1]
    head = layers.Dense(len(new_labels), activation="softmax", name="head")
    model = keras.Model(base.input, head(base.layers[-2].output), name=base.name)
    w_old, b_old = old_head.get_weights()
    w, b = head.get_weights()
    for j, label in enumerate(new_labels):
        if label in old_labels:
            i = list(old_labels).index(label)
            w[:, j], b[j] = w_old[:, i], b_old[i]
    head.set_weights([w, b])
    return model
