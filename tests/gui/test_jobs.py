"""The one job runner: priorities, superseded jobs cancelled, repeated requests coalesced, failures logged and shown."""

from __future__ import annotations

import logging
import threading

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from vaestudio.core.errors import DatasetError
from vaestudio.gui.jobs import JobRunner, Priority
from vaestudio.gui.widgets import dialogs

TIMEOUT = 10_000


@pytest.fixture
def runner(qtbot):
    parent = QLabel()  # error dialogs open over their runner's widget
    qtbot.addWidget(parent)
    jobs = JobRunner(parent)
    yield jobs
    jobs.shutdown()
    for box in QApplication.topLevelWidgets() + parent.findChildren(QMessageBox):
        if isinstance(box, QMessageBox) and box.isVisible():
            box.accept()


class Gate:
    """A job that holds the worker until `open()`: what else is submitted meanwhile has to wait."""

    def __init__(self) -> None:
        self.started, self.opened = threading.Event(), threading.Event()

    def __call__(self, cancel, report):
        self.started.set()
        if not self.opened.wait(TIMEOUT / 1000):
            raise TimeoutError("the gate was never opened")
        return "gate"

    def open(self) -> None:
        self.opened.set()


def hold_worker(runner: JobRunner, qtbot) -> Gate:
    gate = Gate()
    runner.submit("gate", gate, priority=Priority.INTERACTIVE)
    assert gate.started.wait(TIMEOUT / 1000)
    return gate


def recorder(ran: list, name: str):
    def job(cancel, report):
        ran.append(name)
        return name
    return job


def test_the_most_urgent_waiting_job_runs_first(runner, qtbot):
    gate, ran = hold_worker(runner, qtbot), []
    runner.submit("scores", recorder(ran, "scores"), priority=Priority.BACKGROUND)
    runner.submit("map", recorder(ran, "map"), priority=Priority.VISIBLE)
    runner.submit("hover", recorder(ran, "hover"), priority=Priority.INTERACTIVE)
    runner.submit("tsne", recorder(ran, "tsne"), priority=Priority.BACKGROUND)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT, check_params_cb=lambda kind, result: kind == "tsne"):
        gate.open()
    assert ran == ["hover", "map", "scores", "tsne"]


def test_an_interactive_job_runs_at_the_next_checkpoint_of_a_long_background_job(runner, qtbot):
    started, interactive_done = threading.Event(), threading.Event()
    threads, finished = [], []
    runner.finished.connect(lambda kind, result: finished.append((kind, result)))

    def long_background(cancel, report):
        started.set()
        for _ in range(2000):  # some 10 s of work when nothing interrupts it
            if not report():
                return "cancelled"
            if interactive_done.wait(0.005):
                return "went on after the interactive job"
        return "never interrupted"

    def interactive(cancel, report):
        threads.append(threading.current_thread())
        interactive_done.set()
        return "decoded"

    runner.submit("tsne", long_background, priority=Priority.BACKGROUND)
    assert started.wait(TIMEOUT / 1000)
    runner.submit("hover", interactive, priority=Priority.INTERACTIVE)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=TIMEOUT)
    assert finished == [("hover", "decoded"), ("tsne", "went on after the interactive job")]
    assert threads == [runner.worker_thread]


def test_a_newer_request_replaces_the_waiting_one_and_cancels_the_running_one(runner, qtbot):
    started, release, flags, ran, results = threading.Event(), threading.Event(), [], [], []
    runner.finished.connect(lambda kind, result: results.append(result))

    def running(cancel, report):
        flags.append(cancel)
        started.set()
        release.wait(TIMEOUT / 1000)  # holds the worker until both newer requests are in, however busy the machine
        return "first, cancelled"

    runner.submit("map", running)
    assert started.wait(TIMEOUT / 1000)
    runner.submit("map", recorder(ran, "second"))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.submit("map", recorder(ran, "third"))
        release.set()
    assert flags[0].is_set()                 # the running job was asked to stop...
    assert ran == ["third"]                  # ...the waiting one never ran...
    assert results == ["third"]              # ...and only the newest result is shown
    assert not runner.is_busy("map")


def test_a_result_computed_but_not_yet_shown_is_dropped_when_superseded(runner, qtbot):
    done, results = threading.Event(), []
    runner.finished.connect(lambda kind, result: results.append(result))

    def quick(cancel, report):
        done.set()
        return "old"

    runner.submit("background", quick)
    assert done.wait(TIMEOUT / 1000)  # computed; its delivery waits for the event loop, which has not run
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        runner.submit("background", lambda cancel, report: "new")
    qtbot.waitUntil(lambda: not runner.is_busy("background"))
    assert results == ["new"]


def test_repeated_requests_coalesce_into_one_job_of_the_latest_value(runner, qtbot):
    gate, decoded, results = hold_worker(runner, qtbot), [], []
    runner.finished.connect(lambda kind, result: results.append(result) if kind == "slider" else None)

    def decode(value):
        def job(cancel, report):
            decoded.append(value)
            return value
        return job

    for value in range(50):  # fifty slider moves while the worker is busy
        runner.submit("slider", decode(value), priority=Priority.INTERACTIVE, cancel_running=False)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT, check_params_cb=lambda kind, result: kind == "slider"):
        gate.open()
    assert decoded == [49] and results == [49]


def test_coalescing_lets_the_running_job_finish_and_show_its_result(runner, qtbot):
    started, release, results = threading.Event(), threading.Event(), []
    runner.finished.connect(lambda kind, result: results.append(result))

    def first(cancel, report):
        started.set()
        release.wait(TIMEOUT / 1000)
        return "first"

    runner.submit("slider", first, cancel_running=False)
    assert started.wait(TIMEOUT / 1000)
    runner.submit("slider", lambda cancel, report: "second", cancel_running=False)
    runner.submit("slider", lambda cancel, report: "latest", cancel_running=False)
    release.set()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=TIMEOUT)
    assert results == ["first", "latest"]


def test_our_own_error_is_logged_with_its_traceback_and_shown_as_it_is(runner, qtbot, caplog):
    def failing(cancel, report):
        raise DatasetError("MNIST is not in /nowhere. Fetch it with: vaestudio data fetch mnist")

    with qtbot.waitSignal(dialogs.error_reporter.shown, timeout=TIMEOUT) as shown:
        runner.submit("dataset", failing, description="Loading the test images")
    title, message = shown.args
    assert title == "Loading the test images failed."
    assert message == "MNIST is not in /nowhere. Fetch it with: vaestudio data fetch mnist"
    records = [record for record in caplog.records if record.name == "vaestudio.gui.jobs"]
    assert records and records[0].levelno == logging.ERROR and records[0].exc_info is not None
    assert "Traceback" in caplog.text and "in failing" in caplog.text


def test_an_unexpected_error_is_a_short_message_pointing_to_the_log(runner, qtbot, caplog):
    def failing(cancel, report):
        raise ZeroDivisionError("division by zero")

    errors = []
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT):
        runner.submit("map", failing, description="Encoding the test images", on_error=errors.append)
    message = errors[0]
    assert "ZeroDivisionError: division by zero" in message and "log" in message
    assert "Traceback" not in message and "\n" not in message
    assert "Traceback" in caplog.text and "ZeroDivisionError" in caplog.text
    boxes = [box for box in runner.parent().findChildren(QMessageBox) if box.isVisible()]
    assert len(boxes) == 1 and boxes[0].informativeText() == message


def test_a_job_that_shows_its_own_errors_opens_no_dialog(runner, qtbot):
    errors, dialogs_shown = [], []
    dialogs.error_reporter.shown.connect(lambda title, message: dialogs_shown.append(message))
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT):
        runner.submit("dataset", lambda cancel, report: 1 / 0, on_error=errors.append, show_errors=False)
    assert len(errors) == 1 and dialogs_shown == []


def test_a_failing_result_handler_is_shown_too(runner, qtbot, caplog):
    def broken_handler(result):
        raise KeyError("no such column")

    with qtbot.waitSignal(dialogs.error_reporter.shown, timeout=TIMEOUT) as shown:
        runner.submit("map", lambda cancel, report: 1, description="Encoding the test images",
                      on_result=broken_handler)
    assert "KeyError" in shown.args[1] and "Traceback" in caplog.text


def test_a_result_for_a_deleted_widget_is_dropped_quietly(runner, qtbot):
    label, started, release = QLabel(), threading.Event(), threading.Event()
    shown = []
    dialogs.error_reporter.shown.connect(lambda title, message: shown.append(message))

    def job(cancel, report):
        started.set()
        release.wait(TIMEOUT / 1000)
        return "text"

    runner.submit("hover", job, on_result=label.setText)
    assert started.wait(TIMEOUT / 1000)
    label.deleteLater()
    qtbot.waitUntil(lambda: not _alive(label))
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT):
        release.set()
    assert shown == []


def _alive(widget) -> bool:
    import shiboken6

    return shiboken6.isValid(widget)


def test_shutdown_cancels_the_running_job_and_waits_for_it(runner, qtbot):
    started, stopped = threading.Event(), threading.Event()

    def long_job(cancel, report):
        started.set()
        while report():
            cancel.wait(0.005)
        stopped.set()

    runner.submit("tsne", long_job)
    assert started.wait(TIMEOUT / 1000)
    assert runner.shutdown() is True
    assert stopped.is_set() and not runner.worker_thread.is_alive()
    runner.submit("map", lambda cancel, report: "ignored")
    assert not runner.is_busy("map")
