"""RingBuffer: contiguous newest-window reads, absolute-position reads, concurrency."""
import threading

import numpy as np
import pytest

from kwsapp.audio.ringbuffer import RingBuffer


def test_read_latest_zero_fills_before_the_start():
    rb = RingBuffer(8)
    rb.write(np.array([1, 2, 3], np.float32))
    np.testing.assert_array_equal(rb.read_latest(5), [0, 0, 1, 2, 3])
    assert rb.total_written == 3


def test_wraparound_keeps_the_newest_samples_in_order():
    rb = RingBuffer(5)
    for start in range(0, 12, 3):
        rb.write(np.arange(start, start + 3, dtype=np.float32))
    np.testing.assert_array_equal(rb.read_latest(5), [7, 8, 9, 10, 11])
    np.testing.assert_array_equal(rb.read_latest(2), [10, 11])
    # more than the capacity: only what survives, older part zero
    np.testing.assert_array_equal(rb.read_latest(7), [0, 0, 7, 8, 9, 10, 11])


def test_block_larger_than_capacity_keeps_its_tail():
    rb = RingBuffer(4)
    rb.write(np.arange(10, dtype=np.float32))
    assert rb.total_written == 10
    np.testing.assert_array_equal(rb.read_latest(4), [6, 7, 8, 9])


def test_read_range_by_absolute_position():
    rb = RingBuffer(6)
    rb.write(np.arange(10, dtype=np.float32))  # 0..3 overwritten
    np.testing.assert_array_equal(rb.read_range(5, 8), [5, 6, 7])
    np.testing.assert_array_equal(rb.read_range(2, 6), [0, 0, 4, 5])
    with pytest.raises(ValueError):
        rb.read_range(8, 11)


def test_read_returns_a_copy():
    rb = RingBuffer(4)
    rb.write(np.ones(4, np.float32))
    x = rb.read_latest(4)
    x[:] = 7
    np.testing.assert_array_equal(rb.read_latest(4), np.ones(4))


def test_concurrent_writer_and_readers_always_see_contiguous_windows():
    """The writer appends a ramp (sample value = its absolute index); every window a
    reader gets must be consecutive integers, whatever the interleaving."""
    rb = RingBuffer(4000)
    n_blocks, block = 3000, 37
    errors = []
    done = threading.Event()

    def writer():
        for i in range(n_blocks):
            rb.write(np.arange(i * block, (i + 1) * block, dtype=np.float32))
        done.set()

    def reader():
        reads = 0
        while not done.is_set() or reads < 10:
            w = rb.read_latest(1600)
            tail = w[np.argmax(w > 0):] if (w > 0).any() else w[:0]  # zeros only before the stream
            if len(tail) and not np.array_equal(tail, tail[0] + np.arange(len(tail), dtype=np.float32)):
                errors.append(w)
                return
            reads += 1

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, f"non-contiguous window: {errors[0][:5]} ... {errors[0][-5:]}"
    assert rb.total_written == n_blocks * block
    np.testing.assert_array_equal(rb.read_latest(3), np.arange(n_blocks * block - 3, n_blocks * block))


def test_wait_for_wakes_on_write():
    rb = RingBuffer(100)
    got = []
    t = threading.Thread(target=lambda: got.append(rb.wait_for(10, timeout=5)))
    t.start()
    rb.write(np.zeros(10, np.float32))
    t.join(5)
    assert got == [True]
    assert rb.wait_for(20, timeout=0.01) is False


def test_back_pressure_holds_the_writer_until_the_reader_moves_on():
    rb = RingBuffer(10)
    rb.set_oldest_needed(0)
    rb.write(np.zeros(8, np.float32))
    assert rb.wait_for_room(2, timeout=0.01) is True
    assert rb.wait_for_room(3, timeout=0.01) is False  # would overwrite sample 0
    rb.set_oldest_needed(5)
    assert rb.wait_for_room(7, timeout=0.01) is True
    rb.set_oldest_needed(None)
    assert rb.wait_for_room(1000, timeout=0.01) is True
