"""Deterministic safety routing: the one place that decides what is a crisis.

The NLU model also learns the `crisis` and `personal_medical_advice` intents, but a
patient's safety must not hang on a classifier's confidence. These rules run after the
model on every message (see `bot.nlu.components.SafetyRouter`) and win over it:

- a crisis (self-harm, suicidal thoughts, an overdose, an emergency happening now) is
  always routed to emergency guidance, typos included;
- a question only a clinician may answer for one person (their dose, pregnancy,
  mixing with their medications) is never answered with an FAQ.

The rules deliberately err on the side of caution: a false alarm costs a patient one
extra message with the 911/988 numbers; a miss could cost far more.

Pure Python with no Rasa import (the intents' names come from `bot.vocabulary`), so
the action server and tests can use it too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.vocabulary import CRISIS
from bot.vocabulary import PERSONAL_MEDICAL_ADVICE as MEDICAL_ADVICE

__all__ = [
    "CRISIS",
    "MEDICAL_ADVICE",
    "SafetyMatch",
    "detect_crisis",
    "detect_medical_advice",
    "normalize",
    "route",
]

# Whole-token keywords matched with typo tolerance (see `_near`).
_CRISIS_KEYWORDS = (
    "suicide",
    "suicidal",
    "overdose",
    "overdosed",
    "overdosing",
    "unconscious",
    "unresponsive",
    "anaphylaxis",
    "anaphylactic",
)

_SELF = (
    r"(?:my ?self|myslef|myselfe|meself|my ?slef|him ?self|her ?self|"
    r"them ?selves|them ?self)"
)
_CRISIS_PATTERNS = [
    # self-harm and suicidal thoughts
    rf"\b(?:kill|kil|kll|hurt|harm|cut|hang|shoot|off|end|burn|burnt|starv|drown)\w*"
    rf"\s+{_SELF}",
    rf"\b(?:something\s+\w*\s*to|it\s+on|use\s+it\s+on)\s+{_SELF}",
    r"\bcut(?:s|ting)?\s+(?:again|(?:my|his|her|their)\s+(?:wrists?|arms?|legs?|thighs?|skin))",
    r"\b(?:jump|jumping|step|stepping)\s+(?:off|from)\s+(?:a|the|my|this|that|our)?\s*"
    r"(?:bridge|roof|building|balcony|ledge|cliff|window|overpass|tower|top|edge|car\s+park)|"
    r"\b(?:jump|jumping)\s+in\s+front\s+of|\b(?:want|wants|going|gonna)\s+to\s+jump\b"
    r"(?!\s+(?:in|into|on|onto|start|at|the\s+gun|right|back|through|over|ship|rope))",
    r"\bstanding\s+on\s+(?:a|the)\s+(?:bridge|ledge|roof|edge)",
    r"\b(?:gun|rope|noose|pills)\s+(?:is\s+|are\s+)?ready\b|\b(?:the|a)\s+(?:rope|noose)\b",
    r"\bon\s+purpose\b[^.?!]{0,40}\b(?:pills|meds|wake|die|dead)|"
    r"\b(?:pills|meds|medications?)\b[^.?!]{0,30}\bon\s+purpose\b",
    r"\b(?:stop|end)\s+forever\b|\bnever\s+wake\s+up\b|\bto\s+not\s+wake\s+up\b|\bto\s+end\s+it\b",
    r"\b(?:won'?t|wont|will\s+not)\s+be\s+(?:here|alive|around)\s+"
    r"(?:tomorrow|much\s+longer|any\s*more|by)",
    r"\bthis\s+is\s+(?:my\s+last\s+message|goodbye)\b|\b(?:goodbye|suicide)\s+(?:letters?|notes?)",
    r"\bbetter\s+off\s+without\s+me\b|\b(?:nobody|no\s+one)\s+(?:would|will)\s+(?:miss|care)",
    r"\b(?:i'?m|im|i\s+am)\s+not\s+safe\b",
    r"\bkms\b",
    r"\bself[ -]?harm",
    r"\bsuicid",
    r"\b(?:wants?|wanted|wanna|wnt|going|gonna|plan\w*|ready|thinking\s+(?:about|of)|trying)"
    r"\s+(?:to\s+)?(?:die|dying|end\s+it|end\s+(?:my|it)\s+(?:life|all)|"
    r"not\s+(?:be\s+here|wake\s+up|exist|be\s+alive))",
    r"\bend(?:ing)?\s+(?:it\s+all|my\s+(?:own\s+)?life|everything)\b",
    r"\btake\s+my\s+(?:own\s+)?life\b",
    r"\b(?:don'?t|dont|do\s+not|no\s+longer)\s+(?:want|wanna)\s+(?:to\s+)?"
    r"(?:live|be\s+alive|be\s+here|wake\s+up|exist|go\s+on)",
    r"\b(?:no|nothing\s+to)\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living|go\s+on)",
    r"\bbetter\s+off\s+dead\b",
    r"\b(?:wish|rather)\s+(?:i|id|i'd)\s*(?:was|were|be|could\s+be)?\s*dead\b",
    r"\bi\s*(?:'d|would)\s+rather\s+be\s+dead\b",
    r"\bcan'?t\s+(?:go\s+on|take\s+(?:it|this)\s+any\s*more)\b.*\b(?:die|dead|end)\b",
    # hopelessness without a crisis keyword
    r"\bpoint\s+(?:of|in|to)\s+(?:carrying\s+on|going\s+on|keep(?:ing)?\s+going|living|"
    r"life|being\s+alive|being\s+here|existing|continuing|trying\s+any\s*more|"
    r"anything\s+any\s*more)",
    r"\b(?:tired|sick)\s+of\s+(?:being\s+alive|living|life|existing|being\s+here)\b",
    r"\b(?:no|lost\s+(?:the|my|all)|losing\s+(?:the|my))\s+will\s+to\s+live\b",
    r"\b(?:done|finished)\s+with\s+(?:life|living)\b|\bhad\s+enough\s+of\s+(?:life|living)\b",
    r"\b(?:better\s+off|happier)\s+(?:if\s+i\s+(?:was|were)(?:n'?t|\s+not|\s+gone|\s+dead)|"
    r"without\s+me|with\s+me\s+gone)",
    r"\b(?:notice|care|miss\s+me)\s+if\s+i\s+(?:was|were|died|disappeared|was\s+gone)\b",
    r"\b(?:disappear|vanish|sleep)\s+(?:forever|for\s+good|permanently)\b",
    r"\b(?:stop|not)\s+exist(?:ing)?\b|\b(?:hate|hating)\s+being\s+alive\b",
    r"\bcheck\s+out\s+of\s+(?:life|this\s+world)\b|\bready\s+to\s+(?:check\s+out|go|let\s+go\s+of\s+life)\b",
    r"\b(?:last|final)\s+message\b|\b(?:saying|said)\s+my\s+goodbyes\b|"
    r"\bgiv(?:e|ing)\s+away\s+(?:all\s+)?my\s+(?:things|stuff|belongings)\b",
    r"\btonight\s+is\s+the\s+night\b|\bwon'?t\s+make\s+it\s+through\s+the\s+night\b",
    r"\b(?:it\s+all|everything|this|life)\s+to\s+(?:stop|end|be\s+over)\s+"
    r"(?:for\s+good|forever|permanently)\b",
    r"\bsee\s+no\s+(?:future|way\s+out|point)\b|\b(?:no|any)\s+(?:way\s+out|future)\s+"
    r"(?:for\s+me|for\s+myself|except|but\s+(?:one|to))",
    r"\b(?:wish|hope)\s+i\s+(?:don'?t|dont|do\s+not|never|wouldn'?t)\s+wake\s+up\b",
    r"\bdon'?t\s+(?:want|wanna)\s+to\s+wake\s+up\b|\bnot\s+(?:be|being)\s+(?:here|around)\s+any\s*more\b",
    # seeking a method
    r"\b(?:lethal|fatal|deadly|killing)\s+(?:dose|amount|combination|combo|mix|number)\s+"
    r"(?:of\s+)?(?:my|for\s+me|to\s+(?:end|die))",
    r"\bhow\s+(?:many|much)\b[^.?!]{0,60}\b(?:to|would|will|it\s+take)\b[^.?!]{0,40}"
    r"\b(?:kill\s+(?:me|myself|a\s+person|someone)|die\b|never\s+wake|not\s+wake|"
    r"stop\s+(?:my|the|your|a)\s+(?:heart|breathing)|end\s+(?:it|my\s+life|things)|"
    r"(?:stop|end)\s+(?:\w+\s+){0,2}(?:for\s+good|forever|permanently))",
    r"\b(?:which|what)\s+(?:of\s+my\s+)?(?:pills|meds|medications?|combination)\b[^.?!]{0,40}"
    r"\b(?:lethal|deadly|fatal|kill\s+me)\b",
    r"\b(?:easiest|quickest|fastest|painless|best)\s+(?:\w+\s+)?way\s+to\s+"
    r"(?:die|go|end\s+(?:it|my\s+life|things)|kill\s+myself)\b",
    r"\b(?:saving|saved|stockpil\w*|hoard\w*)\s+(?:up\s+)?(?:my\s+|enough\s+)?"
    r"(?:pills|meds|tablets|medications?)\b",
    r"\bmake\s+it\s+look\s+like\s+an\s+accident\b",
    # the means at hand, said as a fact ("a loaded gun next to me", "in the garage
    # with the engine running", "the lethal dose of X, I have 90 left")
    r"\b(?:loaded|cocked)\s+(?:gun|pistol|revolver|rifle|shotgun|handgun)\b|"
    r"\b(?:gun|pistol|revolver|rifle|shotgun|handgun)\b[^.?!]{0,30}\b(?:in\s+my\s+(?:hand|lap|mouth)|"
    r"next\s+to\s+me|beside\s+me|(?:against|to)\s+my\s+head)",
    r"\bgarage\b[^.?!]{0,50}\b(?:engine|motor|car)\s+(?:is\s+)?(?:running|on)\b|"
    r"\b(?:engine|motor|car)\s+(?:is\s+)?running\b[^.?!]{0,40}\b(?:closed|shut)\s+garage\b",
    r"\b(?:lethal|fatal|deadly)\s+(?:dose|amount)\b[^.?!]{0,60}\bi\s+(?:have|got|'ve\s+got|still\s+have)\b",
    r"\b(?:deadly|lethal|fatal)\b[^.?!]{0,40}\b(?:tonight|for\s+me|i\s+need\s+to\s+know)\b",
    r"\b(?:make|let)\s+me\s+never\s+(?:come\s+back|wake)|\bto\s+end\s+things\b",
    r"\btoo\s+much\s+to\s+survive\b|\bso\s+(?:it'?s|its|that\s+it'?s)\s+(?:final|over)\b|"
    r"\bhow\s+high\b[^.?!]{0,40}\b(?:bridge|building|roof|balcony|fall)\b",
    r"\bwithout\s+(?:food|water)\b[^.?!]{0,30}\bfor\s+days\b",
    r"\buntil\s+(?:it|they|i)\s+(?:bled|bleed|bleeds|bleeding)\b|"
    r"\bi\s+deserve\s+(?:it|to\s+(?:die|hurt|suffer|be\s+hurt|be\s+punished))\b",
    r"\b(?:keep|kept|been|am|i'?m|im)\s+black(?:ing|ed)\s+out\b",
    r"\b(?:need|want|urge|going|gonna)\s+to\s+cut\s*(?:tonight|again|myself|deeper|[.!?]|$)",
    r"\bswall\w*\s+(?:the\s+)?(?:whole|entire|all)\b",
    r"\b(?:drank|drunk|drink|ate|swallowed|took|inhaled)\s+(?:some\s+)?(?:bleach|antifreeze|"
    r"rat\s+poison|poison|something\s+from\s+under\s+the\s+sink|detergent|laundry\s+pods?)",
    r"\bbreak\s+my\s+own\s+(?:bones?|arms?|legs?|hands?|wrists?)\b",
    r"\bwhy\s+(?:i'?m|im|i\s+am)\s+still\s+(?:here|alive)\b",
    r"\btonight\s+(?:is|will\s+be)\s+(?:my|her|his|their)\s+last\b",
    r"\b(?:burn\w*|cut\w*|hit\w*|hurt\w*|scratch\w*|punch\w*|bang\w*|carv\w*)\b"
    r"[^.?!]{0,40}\bon\s+purpose\b|\bcarv\w*\s+(?:\w+\s+){0,2}into\s+my\b",
    # overdose and poisoning
    r"\boverdos",
    r"\b(?:took|taken|tkn|swallowed|ate|popped)\b[^.?!]{0,30}"
    r"\b(?:too\s+many|too\s+much|a\s+whole\s+bottle|whole\s+bottle|the\s+whole\s+bottle|"
    r"a\s+bottle\s+of|all\s+(?:of\s+)?(?:my|the|his|her)\s+\w*\s*"
    r"(?:pills|meds|tablets|medication)|\d{2,}\s+(?:of\s+)?(?:my\s+|his\s+|her\s+|the\s+)?"
    r"(?:pills|tablets|meds|caps))",
    r"\b(?:took|taken|swallowed|ate|popped|drank)\b[^.?!]{0,30}\b(?:a\s+bunch\s+of|"
    r"a\s+handful|whole\s+(?:bottle|month|pack|box|week)|\d{2,}\s+(?:of\s+)?\w+)",
    r"\b(?:took|take|taking|swallowed|ate|popped|used)\b[^.?!]{0,30}\b(?:all|whole)\b"
    r"[^.?!]{0,30}\bat\s+once\b",
    r"\b(?:swallowed|ate|chewed)\s+(?:a|my|his|her|the|some)\s+(?:\w+\s+)?"
    r"(?:pills|patch|patches|meds|tablets|medicine)",
    r"\b(?:drank|drinking)\b[^.?!]{0,40}\b(?:took|taking|swallowed)\b[^.?!]{0,25}"
    r"\b(?:pills|meds|tablets)",
    r"\bpoison(?:ed|ing)\b",
    # medical emergency happening now
    r"\b(?:can'?t|cannot|cant|can\s+not|not|struggling\s+to|hard\s+to|barely)\s+breath",
    r"\b(?:not|isn'?t|isnt|stopped|stop)\s+breathing\b",
    r"\b(?:having|have|got|with|my|severe|crushing)\s+chest\s+(?:pain|pains|pressure)\b",
    r"\bchest\s+(?:hurts|is\s+(?:tight|hurting)|feels\s+tight|pain\s+right\s+now)\b",
    r"\b(?:passed\s+out|won'?t\s+wake\s+up|wont\s+wake|not\s+waking\s+up|"
    r"not\s+responding|collapsed|fainted)\b",
    r"\b(?:having|is\s+having|think\s+(?:i'?m|he'?s|she'?s)\s+having)\s+an?\s+"
    r"(?:seizure|stroke|heart\s+attack|fit|allergic\s+reaction)\b",
    r"\b(?:throat|tongue|face|lips)\s+(?:is\s+|are\s+)?(?:closing|swelling|swollen|"
    r"feels\s+tight|(?:is\s+)?tight)",
    r"\b(?:face|mouth)\s+(?:is\s+)?drooping\b|\bspeech\s+(?:is\s+)?slurr|"
    r"\b(?:arm|leg|side)\s+(?:went|is|has\s+gone|just\s+went)\s+(?:limp|numb|dead)"
    r"(?!\s+asleep)",
    r"\b(?:isn'?t|isnt|is\s+not|won'?t|wont|not)\s+wak(?:e|ing)\s+up\b",
    r"\bbleeding\s+(?:a\s+lot|heavily|badly|won'?t\s+stop|wont\s+stop)",
    r"\b(?:call(?:ing)?|need|dial)\s+(?:an?\s+)?(?:911|ambulance)\b",
    r"\bemergency\b[^.?!]{0,20}\b(?:now|right\s+now|happening)\b",
]

_MED = (
    r"(?:meds|medications?|medicines?|pills|prescriptions?|gabapentin|pregabalin|"
    r"lyrica|oxycodone|oxy|opioids?|painkillers|antidepressants?|ssris?|"
    r"blood\s+thinners?|warfarin|xanax|benzos?|insulin|tramadol|morphine|"
    r"suboxone|methadone|adderall|cymbalta|duloxetine|alcohol)"
)
_WORK = r"(?:go(?:ing)?\s+(?:back\s+)?to\s+work|return(?:ing)?\s+to\s+work)"
_MEDICAL_ADVICE_PATTERNS = [
    # one person's dose
    r"\b(?:my|me|i|mine|him|her|his)\b[^.?!]{0,40}\b(?:dose|dosage|doses|mg|milligrams?)\b",
    r"\b(?:dose|dosage|how\s+much\s+(?:ketamine|of\s+it|medicine|medication)|"
    r"how\s+many\s+mg)\b[^.?!]{0,40}\b(?:should|can|could|would|will)\s+"
    r"(?:i|we|he|she|my\s+\w+)\b",
    # pregnancy and breastfeeding
    r"\bpregnan",
    r"\bbreast\s*-?\s*feed",
    r"\bnursing\s+(?:my|a)\s+(?:baby|newborn|infant)",
    r"\btrying\s+to\s+(?:conceive|get\s+pregnant)\b",
    # mixing with one's own medications, stopping them
    rf"\b(?:mix|mixing|combine|combining)\b[^.?!]{{0,40}}\b{_MED}",
    rf"\b(?:with|while\s+on|while\s+taking|alongside)\s+(?:my|his|her)\s+"
    rf"(?:\w+\s+)?{_MED}",
    r"\bshould\s+(?:i|he|she|we)\s+(?:stop|quit|start|increase|decrease|lower|reduce|"
    r"double|skip|come\s+off|get\s+off)\b",
    r"\b(?:right|safe|ok|okay|good|suitable)\s+for\s+me\s+(?:if|since|because|with|"
    r"given|as|when)\b",
    r"\bis\s+(?:it|ketamine|this)\s+right\s+for\s+me\b",
    r"\binteract",
    r"\bfor\s+(?:my|his|her)\s+(?:weight|age|size|body\s+weight)\b",
    r"\bdrive\b[^.?!]{0,30}\b(?:after|home|day\s+after)\b",
    r"\b(?:taper|wean)\w*\s+(?:off\s+)?(?:my|his|her)\b",
    r"\bcan\s+(?:i|he|she)\s+(?:still\s+)?(?:take|keep\s+taking|have|drink)\s+"
    r"(?:my|his|her|a\s+glass|wine|alcohol|beer)\b",
    r"\bwhich\s+(?:ones?|meds|medications?)\s+should\s+(?:i|he|she)\b",
    # will it work for me, am I a candidate, who should not have it
    r"\b(?:work|help|be\s+right|be\s+good|be\s+safe|be\s+effective)\s+for\s+"
    r"(?:me|my\s+\w+|him|her)\b|\bright\s+for\s+(?:me|you)\b",
    r"\bwill\s+(?:i|he|she)\s+(?:get\s+better|improve|recover|be\s+cured)\b",
    r"\b(?:how\s+likely|what\s+are\s+the\s+(?:chances|odds))\b[^.?!]{0,40}\b"
    r"(?:help|work)\w*\s+(?:for\s+)?(?:me|him|her)\b",
    r"\b(?:not\s+a\s+(?:good\s+)?candidate|contraindicat\w*|who\s+(?:should|can)\s*"
    r"(?:not|n'?t)\s+(?:get|have|take|receive|try)|am\s+i\s+a\s+(?:good\s+)?candidate)\b",
    r"\bafter\b[^.?!]{0,40}\b(?:can|could|should|may)\s+(?:i|he|she)\s+"
    r"(?:drive|go\s+(?:back\s+)?to\s+work|eat|drink|work)\b",
    # before and after a session: driving, eating, fasting, alcohol, work
    r"\b(?:after|before|following|day\s+of)\b[^.?!]{0,50}\b(?:drive|driving|eat|eating|"
    rf"drink|drinking|fast|fasting|alcohol|{_WORK})\b",
    r"\b(?:drive|driving|eat|eating|fast|fasting|alcohol|(?:can|could)\s+(?:i|you|one|we)\s+"
    rf"work|{_WORK})\b[^.?!]{{0,40}}\b(?:after|before|following)\b",
    r"\b(?:prepare|preparing|preparation)\s+(?:\w+\s+){0,2}for\s+(?:\w+\s+){0,3}"
    r"(?:infusions?|sessions?|treatments?|procedure|appointment|ketamine)\b",
    # one's other medicines alongside the therapy
    r"\b(?:i|we|you|he|she)\s+(?:\w+\s+){0,2}(?:take|taking|have|use|avoid|stop|stopping|"
    r"continue|keep\s+taking|hold|skip)\b"
    r"[^.?!]{0,30}\b(?:other|any|my|current|regular|usual|certain)\s+(?:\w+\s+)?"
    r"(?:meds|medications?|medicines?|drugs|prescriptions?|supplements?)\b",
    r"\b(?:meds|medications?|medicines?|supplements?)\b[^.?!]{0,40}\b(?:avoid|together\s+"
    r"with|with\s+ketamine|alongside|during\s+(?:ketamine|the|my|treatment|infusions?))\b",
    # pregnancy, continued
    r"\b(?:miscarriage|fetus|foetus|unborn|breast\s*milk|lactat\w*)\b",
    # is it for me, will it help me, how would I know
    r"\b(?:is|are)\s+(?:ketamine|it|this|these|infusions?|(?:ketamine\s+)?(?:therapy|"
    r"treatment|infusions?))\s+(?:\w+\s+)?for\s+me\b",
    r"\bhow\s+(?:do|would|can)\s+i\s+know\s+(?:if|whether)\b|\bdo\s+you\s+recommend\s+(?:ketamine|it|this|"
    r"infusions?|the\s+(?:therapy|treatment))\b",
    r"\b(?:ketamine|it|this|infusions?|treatment|therapy)\s+help\s+me\s*[?.!]*$",
]

# "I have epilepsy / I'm on sertraline / my mom is 82..." together with "is it safe
# for me / can I still..." is a question about one person's own case.
_PERSONAL_CONTEXT = re.compile(
    r"(?<!should )(?<!can )(?<!could )(?<!may )(?<!do )"  # "can i take" is no context
    r"\b(?:i\s+have|i'?ve\s+got|ive\s+got|i'?m\s+on|im\s+on|i\s+am\s+on|i\s+take|i\s+use|"
    r"i'?m\s+(?:a|an|\d+|allergic|diabetic)|im\s+(?:a|an|\d+|allergic|diabetic)|"
    r"i\s+am\s+(?:a|an|\d+|allergic|diabetic)|(?:he|she)\s+(?:has|takes|is\s+on)|"
    r"my\s+\w+\s+(?:is|has|takes|runs)|years\s+old)\b"
)
_PERSONAL_QUESTION = re.compile(
    r"\b(?:safe|ok|okay|a\s+good\s+idea|a\s+problem|fine|right|too\s+old|dangerous)\s+"
    r"(?:for|in)\s+(?:me|him|her|them|my\s+case)\b|"
    r"\b(?:can|could|should|may)\s+(?:i|he|she)\s+(?:still\s+)?(?:do|have|get|try|take)\b|"
    r"\bstill\s+(?:get|do|have|try|infuse)\b|\bshould\s+(?:i|he|she)\s+avoid\b|"
    r"\bdoes\s+that\s+matter\b|\bany\s+problem\b"
)

_CRISIS_RE = [re.compile(p) for p in _CRISIS_PATTERNS]
# The patterns that fire on the mere word; see `detect_crisis`.
_OVERDOSE_MENTIONS = frozenset({r"\boverdos", r"\bsuicid"})
_GENERAL_OVERDOSE = re.compile(
    r"\b(?:can|could|do|does)\s+(?:you|one|someone|somebody|a\s+person|people|patients?)\s+"
    r"(?:\w+\s+)?overdose|\b(?:risk|risks|chance|danger|dangers|signs?|symptoms?|rates?)\s+"
    r"of\s+(?:an?\s+)?overdos|\boverdose\s+(?:risk|potential|rates?)|"
    r"\bpossible\s+to\s+overdose|\bhow\s+(?:easy|likely|common|often)\b[^.?!]{0,30}overdos|"
    r"\bwhat\s+happens\s+(?:if|when)\s+(?:you|someone|somebody|a\s+person|people)\s+overdos|"
    r"\b(?:prevent|avoid|reverse|treat)\w*\s+(?:an?\s+)?overdos|\bnarcan\b|"
    r"\bsuicide\s+(?:rates?|risk|statistics|prevention|research|studies|watch\s+once)\b|"
    r"\b(?:rates?|risk|statistics)\s+of\s+suicide\b|\boverdose\s+(?:policy|scare)\b|"
    r"\b(?:people|someone|patients)\s+overdosing\b|\boverdose\s+on\s+\w+\s+look\s+like\b"
)
_OVERDOSE_LONG_AGO = re.compile(
    r"\b(?:overdos|suicid)\w*\s+(?:\w+\s+){0,6}(?:years|months|decades|a\s+long\s+time)"
    r"\s+ago\b|\b(?:overdos|suicid)\w*\b[^.?!]{0,40}\b(?:as\s+a\s+teen|in\s+the\s+\d0s|"
    r"when\s+(?:he|she|i)\s+was)\b"
)
# ... unless someone is in danger now.
_OVERDOSE_NOW = re.compile(
    r"\b(?:i|i'?ve|i'?m|im|he|she|they|he'?s|she'?s|we|my\s+\w+)\s+(?:just\s+|think\s+"
    r"(?:i|he|she)\s+|may\s+have\s+|might\s+have\s+|probably\s+)?(?:overdosed|overdosing|"
    r"am\s+overdosing|is\s+overdosing|took|taken|swallowed)\b|\bright\s+now\b|\bhelp\b"
)
_MEDICAL_RE = [re.compile(p) for p in _MEDICAL_ADVICE_PATTERNS]
_REPEATS = re.compile(r"(\w)\1{2,}")
_NON_TEXT = re.compile(r"[^\w\s'.?!]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class SafetyMatch:
    """Why a message was routed: the intent it must get and the rule that fired."""

    intent: str
    rule: str


def normalize(text: str, max_repeat: int = 2) -> str:
    """Lower-cases, folds accents and curly quotes, and squeezes stretched letters.

    A run of three or more equal letters is cut to `max_repeat` letters.
    """
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
    text = _NON_TEXT.sub(" ", text)
    text = _REPEATS.sub(lambda m: m.group(1) * max_repeat, text)
    return _SPACES.sub(" ", text).strip()


def _variants(text: str) -> tuple:
    """The normalized text, and the same with stretched letters cut to one.

    "diiiie" only reads as "die" with the run cut to one letter, while "killll"
    needs its double l: the rules look at both.
    """
    return normalize(text), normalize(text, max_repeat=1)


def _near(word: str, keyword: str) -> bool:
    """True when `word` is `keyword` with at most one typo."""
    if word == keyword:
        return True
    budget = 1  # two would turn "conscious" into "unconscious"
    if len(keyword) < 7 or abs(len(word) - len(keyword)) > budget:
        return False
    # Damerau-Levenshtein distance, restricted to the budget.
    prev2: list[int] = []
    prev = list(range(len(keyword) + 1))
    for i, a in enumerate(word, 1):
        cur = [i] + [0] * len(keyword)
        for j, b in enumerate(keyword, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b))
            if i > 1 and j > 1 and a == keyword[j - 2] and word[i - 2] == b:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > budget:
            return False
        prev2, prev = prev, cur
    return prev[-1] <= budget


def _general_overdose_question(norm: str) -> bool:
    """True for a question about overdoses in general, with nobody in danger now."""
    if _OVERDOSE_LONG_AGO.search(norm) and not re.search(
        r"\b(?:now|just|help)\b", norm
    ):
        return True
    return bool(_GENERAL_OVERDOSE.search(norm)) and not _OVERDOSE_NOW.search(norm)


def detect_crisis(text: str) -> SafetyMatch | None:
    """Returns a match when the message speaks of a crisis happening now.

    The word "overdose" alone is a crisis ("i overdosed", "overdose help"), except in
    a general question such as "can you overdose on ketamine?" or "my uncle overdosed
    years ago": those are about risks, and the FAQ on safety answers them.
    """
    for norm in dict.fromkeys(_variants(text)):
        general = _general_overdose_question(norm)
        for pattern in _CRISIS_RE:
            if pattern.search(norm):
                if general and pattern.pattern in _OVERDOSE_MENTIONS:
                    continue
                return SafetyMatch(CRISIS, pattern.pattern[:40])
        for word in norm.replace("'", " ").split():
            for keyword in _CRISIS_KEYWORDS:
                if general and keyword.startswith("overdos"):
                    continue
                if _near(word, keyword):
                    return SafetyMatch(CRISIS, f"keyword:{keyword}")
    return None


def detect_medical_advice(text: str) -> SafetyMatch | None:
    """Returns a match when the message asks for advice on one person's own case."""
    norm = normalize(text)
    for pattern in _MEDICAL_RE:
        if pattern.search(norm):
            return SafetyMatch(MEDICAL_ADVICE, pattern.pattern[:40])
    if _PERSONAL_CONTEXT.search(norm) and _PERSONAL_QUESTION.search(norm):
        return SafetyMatch(MEDICAL_ADVICE, "personal context + question")
    return None


def route(text: str) -> SafetyMatch | None:
    """The safety decision for one message: crisis first, then medical advice."""
    return detect_crisis(text) or detect_medical_advice(text)
