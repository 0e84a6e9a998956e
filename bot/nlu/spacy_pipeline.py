"""Builds the project's own spaCy pipeline: no pretrained model, nothing downloaded.

No pretrained English pipeline is reachable from this product's install step (they
live on a model hub, not on PyPI), so the assistant uses a small pipeline it builds
itself from packages on PyPI:

- spaCy's rule-based English tokenizer;
- a lookup lemmatizer whose tables come from `spacy-lookups-data`, so "infusions",
  "burning" and "were" reach the sparse featurizers as "infusion", "burn" and "be";
- an EntityRuler that tags the pain conditions and medications patients name, so the
  conversation log (and later a handoff summary) shows them as entities.

`python -m bot.nlu.spacy_pipeline` writes it to `var/spacy/en_ms_pain`, the path
`config.yml` gives to Rasa's `SpacyNLP`; `make install` runs it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.vocabulary import CONDITION, MEDICATION

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Keep in sync with `model:` of SpacyNLP in config.yml.
PIPELINE_DIR = PROJECT_ROOT / "var" / "spacy" / "en_ms_pain"
PIPELINE_VERSION = "1.0.1"

CONDITIONS = [
    "neuropathic pain",
    "nerve pain",
    "neuropathy",
    "peripheral neuropathy",
    "diabetic neuropathy",
    "neuralgia",
    "trigeminal neuralgia",
    "sciatica",
    "diabetes",
    "multiple sclerosis",
    "ms",
    "shingles",
    "postherpetic neuralgia",
    "fibromyalgia",
    "crps",
    "complex regional pain syndrome",
    "migraine",
    "migraines",
    "back pain",
    "chronic pain",
    "nerve damage",
    "nerve injury",
    "arthritis",
]
MEDICATIONS = [
    "ketamine",
    "opioids",
    "opioid",
    "oxycodone",
    "oxy",
    "hydrocodone",
    "morphine",
    "tramadol",
    "fentanyl",
    "gabapentin",
    "pregabalin",
    "lyrica",
    "neurontin",
    "duloxetine",
    "cymbalta",
    "amitriptyline",
    "nortriptyline",
    "antidepressants",
    "anticonvulsants",
    "painkillers",
    "pain meds",
]


def entity_patterns() -> list[dict]:
    """Token patterns for the EntityRuler, matched case-insensitively."""
    patterns = []
    for label, phrases in ((CONDITION, CONDITIONS), (MEDICATION, MEDICATIONS)):
        for phrase in phrases:
            tokens = [{"LOWER": word} for word in phrase.split()]
            patterns.append({"label": label, "pattern": tokens})
    return patterns


def build_pipeline():
    """Returns the in-memory pipeline (tokenizer, lookup lemmatizer, entity ruler)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    nlp.initialize()  # before add_patterns: initializing the ruler clears them
    ruler.add_patterns(entity_patterns())
    nlp.meta.update(
        {
            "name": "ms_pain",
            "version": PIPELINE_VERSION,
            "description": "Tokenizer, lookup lemmatizer and entity ruler; no vectors.",
        }
    )
    return nlp


def ensure_pipeline(target: Path = PIPELINE_DIR) -> Path:
    """Writes the pipeline to `target` unless the same version is already there."""
    import spacy

    meta = target / "meta.json"
    if meta.exists():
        try:
            if spacy.load(target).meta.get("version") == PIPELINE_VERSION:
                return target
        except (OSError, ValueError):
            pass  # a half-written or stale directory: rebuild it below
    target.parent.mkdir(parents=True, exist_ok=True)
    build_pipeline().to_disk(target)
    return target


def main() -> None:
    """Command line: build the pipeline (idempotent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=Path, default=PIPELINE_DIR)
    args = parser.parse_args()
    print(f"spaCy pipeline ready at {ensure_pipeline(args.target)}")


if __name__ == "__main__":
    main()
