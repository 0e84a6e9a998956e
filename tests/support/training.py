"""The session's model, trained in a background process while other tests run.

Training takes minutes and the suite's first tests waited for it with both cores
mostly idle (servers starting, pages loading). `tests/conftest.py` starts this job
right after collection, runs the modules that do not need the model first, and the
`trained_model` fixture waits for the job. The job runs at a lower priority (nice
10), so the tests running beside it keep their timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT

_SCRIPT = """
import sys
from rasa.api import train
from bot.nlu.spacy_pipeline import ensure_pipeline

ensure_pipeline()
result = train(
    domain="domain.yml",
    config="config.yml",
    training_files=["data"],
    output="var/models",
)
if result.code != 0 or not result.model:
    sys.exit(1)
print("MODEL=" + str(result.model), flush=True)
"""


def _lower_priority() -> None:  # pragma: no cover - runs in the child
    os.nice(10)


class BackgroundTraining:
    """`rasa train` in a child process (Rasa's fingerprint reuses a cached model)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._output = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=self._output,
            stderr=subprocess.STDOUT,
            preexec_fn=_lower_priority,
        )

    def model(self, timeout: float = 3600) -> Path:
        """Waits for the job; the trained model's path, or a failure with its log."""
        code = self.process.wait(timeout)
        self._output.close()
        text = self.log.read_text(encoding="utf-8", errors="replace")
        paths = [line[6:] for line in text.splitlines() if line.startswith("MODEL=")]
        if code != 0 or not paths:
            raise AssertionError(f"training failed ({code}):\n{text[-4000:]}")
        return (ROOT / paths[-1]).resolve()

    def stop(self) -> None:
        """Ends the job if it still runs (a run that never needed the model)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._output.close()
