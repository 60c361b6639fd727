import torch

from vaestudio.core.training.thread_tuning import (
    ThreadTuner,
    single_torch_thread,
    thread_candidates,
)


class FakeMachine:
    """A clock that advances by the step time of the thread count in force."""

    def __init__(self, seconds_per_step: dict[int, float]):
        self.seconds_per_step = seconds_per_step
        self.now = 0.0
        self.threads = None
        self.applied = []

    def apply(self, count: int) -> None:
        self.threads = count
        self.applied.append(count)

    def clock(self) -> float:
        return self.now

    def run(self, tuner: ThreadTuner, steps: int) -> dict[int, int]:
        used = {}
        for _ in range(steps):
            self.now += self.seconds_per_step[self.threads]
            used[self.threads] = used.get(self.threads, 0) + 1
            tuner.step_done(128)
        return used


def make(machine, **options):
    return ThreadTuner([1, 2], clock=machine.clock, apply=machine.apply, **options)


def test_keeps_two_threads_on_an_idle_machine():
    machine = FakeMachine({1: 0.010, 2: 0.006})
    tuner = make(machine)
    used = machine.run(tuner, 2000)
    assert tuner.current == 2 and machine.threads == 2
    assert used[2] > 0.9 * sum(used.values())
    assert tuner.rates[2] > tuner.rates[1]


def test_falls_back_to_one_thread_when_two_collapse_and_rarely_probes_again():
    machine = FakeMachine({1: 0.008, 2: 0.025})
    tuner = make(machine)
    used = machine.run(tuner, 5000)
    assert tuner.current == 1
    assert used[2] < 0.1 * sum(used.values())
    assert tuner.interval > 5.0  # the same winner twice doubles the wait before the next probe


def test_follows_a_change_of_load():
    machine = FakeMachine({1: 0.010, 2: 0.006})
    tuner = make(machine)
    machine.run(tuner, 500)
    assert tuner.current == 2
    machine.seconds_per_step = {1: 0.008, 2: 0.030}  # another program starts
    machine.run(tuner, 20000)
    assert tuner.current == 1


def test_one_candidate_never_switches():
    machine = FakeMachine({1: 0.01})
    tuner = ThreadTuner([1], clock=machine.clock, apply=machine.apply)
    machine.threads = 1
    machine.run(tuner, 100)
    assert machine.applied == []


def test_candidates_leave_one_core_or_use_all():
    assert thread_candidates(2) == [1, 2]
    assert thread_candidates(1) == [1]
    assert thread_candidates(16) == [15, 16]


def test_single_torch_thread_stays_one_whatever_another_thread_sets_later():
    import threading

    settled, changed, seen = threading.Event(), threading.Event(), []

    def gui_like() -> None:
        single_torch_thread()
        settled.set()
        changed.wait(10)
        seen.append(torch.get_num_threads())

    def training_like() -> None:
        settled.wait(10)
        torch.set_num_threads(2)  # what the training thread does; torch keeps it as the default for new threads
        changed.set()

    threads = [threading.Thread(target=gui_like), threading.Thread(target=training_like)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [1]
