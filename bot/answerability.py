"""Questions the article cannot answer, recognised by their words: the clinic's facts.

The source article says nothing about what the therapy costs, whether insurance or
Medicare pays, how many sessions a plan has, how long a visit takes, who the clinic's
providers are, or where and when it is open. A curated answer to such a question is a
wrong answer however close its topic, and the intent model, trained mostly on
questions the article does answer, is sure of itself on "Does Medicare cover ketamine
infusions for chronic pain?". These rules recognise the clinic's own facts by their
words and route them to `clinic_logistics` (the honest "I can't answer that here",
with a person offered). The SafetyRouter applies them to messages the model would
answer with an FAQ or a "Did you mean...?", after the safety rules.

Pure Python, like `bot.safety`.
"""

from __future__ import annotations

import re

from bot.safety import SafetyMatch, normalize
from bot.vocabulary import CLINIC_LOGISTICS, OUT_OF_SCOPE

_THERAPY = r"(?:infusions?|sessions?|treatments?|visits?|appointments?|rounds?|doses?)"
# "how long does the infusion take to work?" asks about onset, not a visit's length.
_NOT_ONSET = r"(?!\s+(?:\w+\s+)?to\s+(?:work|kick|start|help|act|take\s+effect))"
_LOGISTICS_PATTERNS = [
    # money
    r"\b(?:cost|costs|price|prices|pricing|priced|afford|affordable|expensive|cheap|"
    r"copays?|co-pays?|deductibles?|out\s+of\s+pocket|payment\s+plans?|financing|"
    r"reimburs\w*|hsa|fsa|self[- ]pay|how\s+much\s+(?:is|does|do|will|would)\s+"
    r"(?:it|this|ketamine|the\s+\w+|an?\s+\w+|each|one)\s*(?:\w+\s+){0,3}"
    r"(?:cost|run|charge|be)\b)",
    r"\b(?:insurance|insurer|insured|medicare|medicaid|tricare|cover(?:ed|s|age)?\s+"
    r"(?:by|it|this|ketamine|the|infusions?|treatment))\b",
    r"\b(?:pay|paying)\s+for\s+(?:it|this|ketamine|the\s+\w+|infusions?|treatment)\b",
    # the treatment plan and a visit's practicalities
    rf"\bhow\s+many\s+(?:\w+\s+)?{_THERAPY}\b",
    rf"\bhow\s+(?:often|frequently)\s+(?:\w+\s+){{0,4}}{_THERAPY}\b|"
    r"\bhow\s+often\s+(?:do|will|would|should|can)\s+(?:i|you|we|patients?|people)"
    r"\s+(?:need|have|get|go|come)\b",
    r"\b(?:booster|maintenance|top[- ]up)\s+(?:infusions?|sessions?|treatments?|"
    r"doses?)\b|"
    r"\bseries\s+of\s+(?:infusions?|treatments?|sessions?)\b",
    rf"\bhow\s+long\s+(?:is|does|will|would)\s+(?:(?:an?|each|one|the|every|my|your)\s+)?"
    rf"(?:\w+\s+)?{_THERAPY}\s+(?:take|itself|usually\s+take)\b{_NOT_ONSET}",
    # who the providers are
    r"\b(?:licensed|credentials?|board[- ]certified|qualifications?|qualified\s+to|"
    r"nurse\s+practitioners?)\b",
    r"\bwho\s+(?:administers|performs|oversees|supervises)\b",
    # where and when
    r"\b(?:where\s+(?:are\s+you|is\s+the\s+clinic|is\s+it\s+(?:done|given|provided))|"
    r"located|address|parking|opening\s+hours|office\s+hours|open\s+on|waiting\s+list|"
    r"wait\s*list|waitlist|referral|telehealth|outpatient|inpatient)\b",
    r"\b(?:book|schedule|reschedule|cancel)\s+(?:an?|my|the)\s+(?:appointment|"
    r"consult\w*|session|infusion|visit)\b",
]
_LOGISTICS_RE = [re.compile(p) for p in _LOGISTICS_PATTERNS]

# Words that only mean the clinic's care when the message is about it at all ("can my
# dog come with me?" is not): applied to messages the domain gate let through.
_VISIT_PATTERNS = [
    # more than one infusion, how long the course goes on, boosters
    rf"\b(?:multiple|several|more\s+than\s+one|one\s+or\s+(?:multiple|more|several))\s+"
    rf"(?:\w+\s+)?{_THERAPY}",
    r"\bhow\s+long\s+(?:will|would|do|does)\s+(?:i|we|he|she|you|patients?|people)\s+"
    r"(?:need|have)\s+to\s+(?:take|have|get|keep|continue)\b",
    r"\b(?:ketamine|infusion|maintenance)\s+boosters?\b|\bboosters?\s+(?:infusions?|"
    r"sessions?|treatments?|doses?|after)\b",
    # a visit's practicalities: who drives you home, who comes along
    r"\b(?:need\s+a\s+(?:driver|ride|chaperone)|someone\s+(?:need\s+)?(?:to\s+)?(?:drive|come\s+"
    r"with|pick\s+(?:me|him|her)\s+up|take\s+me\s+home)|come\s+with\s+me|bring\s+"
    r"(?:someone|a\s+friend|a\s+family\s+member|anyone))\b",
]
_VISIT_RE = [re.compile(p) for p in _VISIT_PATTERNS]

# Topics next to the article's that it does not cover at all.
_OUTSIDE_PATTERNS = [
    r"\bfda\b|\bsuccess\s+rates?\b|\bhow\s+successful\b|\bclinical\s+trials?\b|"
    r"\bwhat\s+(?:do|does)\s+(?:the\s+)?(?:studies|research)\b",
    r"\bwhat\s+(?:is|are)\s+(?:an?\s+)?(?:postherpetic|trigeminal|fibromyalgia|crps|"
    r"complex\s+regional|lupus|arthritis|sciatica|shingles|multiple\s+sclerosis|"
    r"phantom\s+limb|migraines?)\b",
    r"\b(?:for|treat\w*|help\w*|with|cure\w*|against)\s+(?:my\s+|his\s+|her\s+)?"
    r"(?:depression|ptsd|anxiety|ocd|bipolar)\b|\b(?:esketamine|spravato)\b",
]
_OUTSIDE_RE = [re.compile(p) for p in _OUTSIDE_PATTERNS]


# A price or coverage question with nothing else in it ("how much does it cost?",
# "is it covered by insurance?"): in this chat it can only mean the therapy, whatever
# the intent model made of so few words.
_BARE_CLINIC_QUESTION = re.compile(
    r"^(?:and\s+|so\s+|ok\s+|okay\s+)?(?:how\s+much\s+(?:does|is|will|would|do)\s+"
    r"(?:it|this|that|ketamine|the\s+(?:treatment|therapy|infusions?|sessions?)|"
    r"(?:a|one|each)\s+(?:treatment|infusion|session))(?:\s+therapy)?\s*"
    r"(?:cost|run|be|charge)?|what\s+(?:does|will)\s+(?:it|this|that)\s+cost|"
    r"(?:is|are)\s+(?:it|this|that|they|infusions?)\s+covered(?:\s+by\s+"
    r"(?:insurance|medicare|medicaid))?|do\s+you\s+(?:take|accept)\s+"
    r"(?:insurance|medicare|medicaid))\s*[?.!]*$"
)


def is_bare_clinic_question(text: str) -> bool:
    """True for a short price or coverage question that names nothing else."""
    return _BARE_CLINIC_QUESTION.match(normalize(text).strip()) is not None


def detect_clinic_fact(text: str, in_domain: bool = True) -> SafetyMatch | None:
    """A match when the message asks for a fact about the clinic the article lacks.

    Also `out_of_scope` for the neighbouring topics the article does not cover
    (FDA status, success rates, what another condition is, depression or PTSD).
    `in_domain` False (the domain gate's verdict) leaves out the visit patterns,
    whose words are everyday ones.
    """
    norm = normalize(text)
    patterns = _LOGISTICS_RE + (_VISIT_RE if in_domain else [])
    for pattern in patterns:
        if pattern.search(norm):
            return SafetyMatch(CLINIC_LOGISTICS, pattern.pattern[:40])
    for pattern in _OUTSIDE_RE:
        if pattern.search(norm):
            return SafetyMatch(OUT_OF_SCOPE, pattern.pattern[:40])
    return None
