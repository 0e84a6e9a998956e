"""The base of the project's trained NLU components: one scikit-learn model each.

`DomainGate` and `CrisisDetector` each train one model on Rasa's training data, keep
it in Rasa's model storage as a skops file, and load it back trusting only the types
of scikit-learn, numpy, scipy and this package (skops refuses anything else, unlike
pickle). A model that cannot be loaded leaves the component inert, with an error in
the log, rather than stopping the bot: the rules and the other gates still run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "bot.nlu.")


def load_trusted(path: Path, prefixes: tuple = TRUSTED_PREFIXES) -> Any:
    """A skops file's object, refusing any type outside `prefixes`."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    allowed = [t for t in untrusted if t.startswith(prefixes)]
    if allowed != untrusted:
        raise ValueError(f"unexpected types in {path}: {untrusted}")
    return sio.load(path, trusted=allowed)


class LearnedComponent(GraphComponent):
    """A Rasa component around one trained scikit-learn model (`MODEL_FILE`)."""

    MODEL_FILE = "model.skops"

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Any = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LearnedComponent:
        """Creates an untrained component."""
        return cls(config, model_storage, resource)

    def persist(self, model: Any) -> Resource:
        """Keeps the trained `model` in Rasa's model storage."""
        import skops.io as sio

        self._model = model
        with self._model_storage.write_to(self._resource) as directory:
            sio.dump(model, directory / self.MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LearnedComponent:
        """Loads the trained model; without one the component lets messages pass."""
        try:
            with model_storage.read_from(resource) as directory:
                model = load_trusted(directory / cls.MODEL_FILE)
        except (ValueError, FileNotFoundError) as error:
            logger.error(f"{cls.__name__} not loaded ({error}); it lets messages pass.")
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to the training data."""
        return training_data
