"""Human-readable names of the FAQ answers, for "Did you mean...?" buttons.

Each catalog key has a short button title and a canonical question. A button's
payload is the canonical question itself, not an `/intent` code: it reads well in
the conversation log, over SMS ("reply 1, 2 or 3") and if a patient types it. Every
canonical question is also a training example of its key (tests check both).
"""

from typing import Dict, NamedTuple


class Topic(NamedTuple):
    """How one FAQ answer is offered to a patient."""

    title: str
    question: str


TOPICS: Dict[str, Topic] = {
    "what_is_neuropathic_pain": Topic(
        "What is nerve pain?", "What is chronic neuropathic pain?"
    ),
    "neuropathic_pain_symptoms": Topic(
        "What nerve pain feels like", "What does nerve pain feel like?"
    ),
    "neuropathic_pain_causes": Topic(
        "What causes nerve pain", "What causes neuropathic pain?"
    ),
    "traditional_treatments": Topic(
        "Usual pain medicines", "What medications are usually used for nerve pain?"
    ),
    "non_drug_treatments": Topic(
        "Non-drug treatments", "What treatments without medication are there?"
    ),
    "what_is_ketamine": Topic("What is ketamine?", "What is ketamine?"),
    "how_ketamine_works": Topic(
        "How ketamine works", "How does ketamine work on pain?"
    ),
    "administration": Topic("How it is given", "How is ketamine therapy given?"),
    "session_experience": Topic(
        "What a session is like", "What is a ketamine session like?"
    ),
    "onset_speed": Topic("How fast it works", "How fast does ketamine therapy work?"),
    "relief_duration": Topic(
        "How long relief lasts", "How long does the pain relief last?"
    ),
    "opioid_reduction": Topic(
        "Less need for opioids", "Can ketamine reduce my need for opioids?"
    ),
    "quality_of_life": Topic(
        "Sleep, mobility and mood", "Can it improve my quality of life?"
    ),
    "benefits_overview": Topic(
        "Benefits of ketamine therapy", "What are the benefits of ketamine therapy?"
    ),
    "recreational_drug": Topic(
        "Isn't it a party drug?", "Isn't ketamine a party drug?"
    ),
    "is_it_safe": Topic("Is it safe?", "Is ketamine therapy safe?"),
    "who_is_it_for": Topic(
        "Does it work for all pain?", "Does ketamine work for every kind of pain?"
    ),
    "side_effects": Topic(
        "Side effects", "What are the side effects of ketamine therapy?"
    ),
    "long_term_risks": Topic(
        "Long-term risks", "Are there long-term risks like bladder problems?"
    ),
    "getting_started": Topic(
        "How to get started", "How do I get started with ketamine therapy?"
    ),
}
