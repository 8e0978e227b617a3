"""Deterministic generator for the bundled MS MARCO-format sample (``data=msmarco_sample``).

All text is written from the tables below -- no MS MARCO text is used. Each passage answers one
*aspect* (diet, lifespan, cost ...) of one *entity* (a red fox, Lisbon, risotto ...) of one of five
topics; every (entity, aspect) has one passage, some a second one. A query asks about one
(entity, aspect): its relevant passages are that pair's, so queries and passages share topical
words, and passages about the same entity or the same aspect make hard negatives.

Files (MS MARCO's formats, headerless, tab-separated unless noted):

* ``collection.tsv`` (pid, passage), ``queries.train.tsv`` / ``queries.dev.tsv`` (qid, query);
* ``qrels.train.tsv`` / ``qrels.dev.tsv``: TREC ``qid 0 pid 1``;
* ``triples.train.tsv`` (query, positive, negative texts) and ``qidpidtriples.train.tsv`` (the
  same triples as ids): 8 negatives per training query, listed together;
* ``teacher_scores.tsv``: pos_score, neg_score, qid, pos_pid, neg_pid for the same triples
  (Hofstaetter et al.'s format; plausible synthetic scores);
* ``run.dev.trec``: a TREC run (``qid Q0 pid rank score tag``, space-separated) of 25 candidates
  per dev query, its relevant passages included.

Train and dev queries never ask about the same (entity, aspect). Regenerate the shipped files
(byte-identical) with ``python tools/msmarco_sample.py``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random

from pairlab.atomic import write_text
from pairlab.resolvers import SAMPLES_DIR

SEED = 20240923
N_TRAIN, N_DEV = 150, 30
NEGATIVES_PER_QUERY = {"same_entity": 3, "same_aspect": 3, "other_topic": 2}
SECOND_PASSAGE_SHARE = 0.2
RUN_DEPTH = 25
RUN_TAG = "pairlab-synthetic-bm25"

# fmt: off
# topic -> (entities, filler sentences, {aspect: (query templates, passage templates)}).
# Templates: {e} entity, [a|b] one choice, {3-15} an integer in range.
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, tuple[tuple[str, ...], tuple[str, ...]]]]] = {
    "animals": (
        ("red fox", "gray wolf", "honey bee", "sea otter", "barn owl", "green sea turtle", "african elephant",
         "snow leopard", "emperor penguin", "koala"),
        ("The {e} has been [studied|photographed|protected] in many countries.",
         "Children often learn about the {e} at school.", "Wildlife films about the {e} are popular."),
        {
            "diet": (
                ("what does the {e} eat", "{e} diet", "what food does a {e} [need|eat|hunt] in the wild"),
                ("The diet of the {e} is made up mostly of [insects|small rodents|fish|fresh leaves|seeds and nuts], "
                 "with [berries|grasses|eggs|shellfish] added when they are available. An adult {e} eats roughly "
                 "{2-9} percent of its body weight in food each day.",
                 "In the wild a {e} forages for [fruit|roots|small prey|crustaceans] and [insects|carrion|bark]. "
                 "What the {e} eats changes with the seasons: in winter its diet narrows and it relies on stored fat."),
            ),
            "habitat": (
                ("where does the {e} live", "{e} habitat", "what kind of habitat does the {e} prefer"),
                ("The {e} lives in [forests|grasslands|coastal waters|mountain slopes|wetlands] and is most common in "
                 "[northern Europe|central Asia|North America|southern Africa]. Its habitat must offer shelter, "
                 "water and enough food within a range of about {3-60} square kilometres.",
                 "Natural habitat: the {e} prefers [dense woodland|open plains|rocky shores|high valleys] where it "
                 "can find cover. Loss of this habitat to farming and roads is the main pressure on the {e}."),
            ),
            "lifespan": (
                ("how long does a {e} live", "{e} lifespan", "average life expectancy of the {e}"),
                ("A {e} lives for about {3-15} years in the wild, although individuals in captivity often reach "
                 "{16-40} years. The lifespan of the {e} depends on food supply, predators and disease.",
                 "The average life expectancy of the {e} is {4-20} years. Many young die in their first year, so "
                 "those that survive to adulthood live much longer than the average suggests."),
            ),
            "size": (
                ("how big is a {e}", "{e} size and weight", "how much does an adult {e} weigh"),
                ("An adult {e} measures about {20-300} centimetres from head to tail and weighs between {1-40} and "
                 "{41-900} kilograms. Males are usually larger and heavier than females.",
                 "Size of the {e}: a fully grown {e} stands roughly {10-150} centimetres tall. Its weight varies "
                 "with the season and can drop by a fifth over a hard winter."),
            ),
            "predators": (
                ("what eats the {e}", "{e} predators", "what animals hunt the {e}"),
                ("Natural predators of the {e} include [eagles|wolves|large sharks|big cats|snakes] and, for the "
                 "young, [foxes|crows|gulls|raccoons]. The {e} avoids predators by staying alert near cover.",
                 "Few animals hunt an adult {e}, but its eggs and young are taken by [birds of prey|weasels|orcas]. "
                 "Humans remain the greatest threat to the {e}."),
            ),
            "reproduction": (
                ("how many babies does a {e} have", "{e} breeding season", "how does the {e} reproduce"),
                ("The {e} breeds once a year, usually in [spring|early summer|the rainy season|late winter]. After "
                 "about {3-30} weeks the female raises {1-6} young, which stay with her for several months.",
                 "Breeding: a female {e} has between {1-4} and {5-9} offspring per season. The young are born "
                 "helpless and depend on their parents for food and warmth."),
            ),
            "behavior": (
                ("does the {e} live in groups", "{e} behavior", "is the {e} nocturnal or active during the day"),
                ("The {e} is [mostly solitary|highly social|territorial|shy] and most active [at night|at dawn and "
                 "dusk|during the day]. Groups of the {e} communicate with calls, scent marks and body language.",
                 "Behaviour of the {e}: it spends much of the day [resting|grooming|searching for food|patrolling "
                 "its territory] and can travel up to {2-40} kilometres in one night."),
            ),
            "conservation": (
                ("is the {e} endangered", "{e} conservation status", "how many {e} are left in the wild"),
                ("The {e} is listed as [least concern|near threatened|vulnerable|endangered] by the IUCN. About "
                 "{10-900} thousand remain in the wild, and protected areas cover part of its range.",
                 "Conservation status: numbers of the {e} have [fallen|recovered|stayed stable] over the last "
                 "{10-50} years. Hunting bans and habitat protection are the main measures taken."),
            ),
        },
    ),
    "travel": (
        ("Lisbon", "Kyoto", "Oslo", "Cusco", "Marrakesh", "Quebec City", "Hanoi", "Reykjavik", "Dubrovnik",
         "Valparaiso"),
        ("{e} attracts visitors from all over the world.", "Guides in {e} offer tours in several languages.",
         "Travel blogs rank {e} among the most photogenic cities."),
        {
            "best_time": (
                ("best time to visit {e}", "when should i go to {e}", "what month is best for a trip to {e}"),
                ("The best time to visit {e} is from [April to June|September to November|May to September], when "
                 "the weather is mild and the crowds are smaller. Hotel prices in {e} rise sharply in peak weeks.",
                 "Most travellers find [spring|autumn|early summer|late winter] the ideal season for a trip to {e}. "
                 "Book at least {2-6} weeks ahead if you plan to visit during a festival."),
            ),
            "population": (
                ("population of {e}", "how many people live in {e}", "{e} population [2020|2023|size]"),
                ("{e} has a population of about {100-900} thousand people, and the wider metropolitan area is home "
                 "to roughly {1-3} million. The population of {e} has grown steadily since the [1950s|1970s|1990s].",
                 "Around {200-950} thousand residents live in {e} itself. Many more people commute into {e} every "
                 "day from the surrounding towns."),
            ),
            "food": (
                ("what food is {e} known for", "traditional dishes in {e}", "where to eat in {e}"),
                ("{e} is known for its [seafood|street food|pastries|stews|grilled meat] and its busy markets. Local "
                 "dishes in {e} are cooked with [olive oil|fresh herbs|chili and lime|spices], and a meal costs about "
                 "{8-30} dollars.",
                 "Food lovers visiting {e} should try the local [soups|dumplings|small plates|sweets|noodle dishes] "
                 "sold in family restaurants near the old town."),
            ),
            "transport": (
                ("how to get around {e}", "{e} public transport", "is there a metro in {e}"),
                ("Getting around {e} is easy: [trams|buses|a metro line|ferries] connect the centre with the main "
                 "sights, and a day ticket costs about {3-15} dollars. Many visitors explore {e} on foot.",
                 "Public transport in {e} runs from early morning until midnight. Bicycles can be rented at "
                 "{10-90} stations around {e}."),
            ),
            "history": (
                ("when was {e} founded", "history of {e}", "how old is the city of {e}"),
                ("{e} was founded in the {8-18}th century and grew into an important [trading port|religious centre|"
                 "capital|mining town]. Much of the history of {e} can still be seen in its old walls and churches.",
                 "The history of {e} goes back more than {300-2000} years. The city was rebuilt after a [great fire|"
                 "major earthquake|long war] and its historic centre is now protected."),
            ),
            "climate": (
                ("what is the weather like in {e}", "{e} climate", "average temperature in {e} in [winter|summer]"),
                ("{e} has a [mild|cold|humid|dry|rainy] climate. Summer temperatures average about {18-34} degrees "
                 "Celsius, while winter days in {e} are around {0-15} degrees.",
                 "The weather in {e} changes quickly; rain falls on about {60-200} days a year. Pack layers and a "
                 "waterproof jacket when visiting {e} in any season."),
            ),
            "landmarks": (
                ("top things to see in {e}", "famous landmarks in {e}", "what to do in {e} in one day"),
                ("The most famous landmarks in {e} include the old cathedral, the [harbour|castle|royal palace|main "
                 "square] and the views from the hills. Visitors can see the main sights of {e} in {1-3} days.",
                 "Top things to do in {e}: walk through the historic district, visit the [national museum|fish market|"
                 "temple gardens|city walls], and watch the sunset from the waterfront."),
            ),
            "cost": (
                ("is {e} expensive to visit", "how much does a trip to {e} cost", "daily budget for {e}"),
                ("{e} is [fairly cheap|moderately priced|expensive] by regional standards. A budget traveller needs "
                 "about {40-90} dollars a day, while a mid-range trip to {e} costs around {100-250} dollars a day.",
                 "Costs in {e}: a hostel bed is about {15-50} dollars, a meal in a simple restaurant about {6-25} "
                 "dollars, and museum tickets rarely exceed {5-20} dollars."),
            ),
        },
    ),
    "cooking": (
        ("sourdough bread", "risotto", "pad thai", "ratatouille", "paella", "miso soup", "lasagna", "guacamole",
         "banana bread", "chili con carne"),
        ("{e} is a popular choice for family dinners.", "Many home cooks have their own version of {e}.",
         "Recipes for {e} are among the most searched online."),
        {
            "ingredients": (
                ("what are the ingredients in {e}", "what do you need to make {e}", "{e} ingredients list"),
                ("A classic {e} needs [flour|rice|noodles|vegetables|beans], [salt|garlic|onion|olive oil] and "
                 "[water|stock|eggs|tomatoes]. Most recipes for {e} use fewer than {5-12} main ingredients.",
                 "To make {e} you will need fresh [herbs|chilies|lime|butter|cheese] along with the basic "
                 "ingredients. Good quality ingredients matter more than technique for {e}."),
            ),
            "cooking_time": (
                ("how long does it take to make {e}", "{e} cooking time", "how long to cook {e}"),
                ("Making {e} takes about {20-90} minutes of active work, plus {10-60} minutes of cooking. Plan extra "
                 "time the first time you prepare {e}.",
                 "Cooking time for {e}: cook over [medium|low|high] heat for {10-45} minutes, stirring now and then, "
                 "until it is done."),
            ),
            "storage": (
                ("how long does {e} last in the fridge", "can you freeze {e}", "how to store leftover {e}"),
                ("Leftover {e} keeps for {2-5} days in an airtight container in the fridge. You can freeze {e} for "
                 "up to {1-3} months; thaw it overnight before reheating.",
                 "Store {e} covered and cool. Reheat only the portion you need, since reheating {e} more than once "
                 "spoils its texture."),
            ),
            "calories": (
                ("how many calories in {e}", "{e} nutrition facts", "is {e} healthy"),
                ("One serving of {e} has about {150-700} calories, with {5-30} grams of protein and {10-80} grams of "
                 "carbohydrates. Whether {e} is healthy depends on the portion and the amount of oil.",
                 "Nutrition facts for {e}: a typical portion provides {200-600} calories and a good amount of "
                 "[fibre|iron|vitamin C|potassium]."),
            ),
            "origin": (
                ("where does {e} come from", "origin of {e}", "history of the {e} dish"),
                ("{e} originated in [Spain|France|Italy|Thailand|Japan|Mexico] and became popular abroad in the "
                 "{19-20}th century. The name {e} first appeared in cookbooks around {1700-1990}.",
                 "The origin of {e} is debated, but most food historians trace it to home cooks who used simple, "
                 "cheap ingredients."),
            ),
            "substitutes": (
                ("what can i use instead of [eggs|butter|rice|cheese] in {e}", "{e} substitutions",
                 "vegan {e} recipe"),
                ("If you are missing an ingredient for {e}, you can swap [butter for olive oil|eggs for flax seed|"
                 "rice for barley|meat for lentils]. A vegan {e} works well with plant-based alternatives.",
                 "Common substitutions in {e}: use [yogurt|coconut milk|vegetable stock|tofu] in place of the "
                 "original. The taste of {e} changes a little but stays close to the classic version."),
            ),
            "equipment": (
                ("what pan do i need for {e}", "equipment to make {e}",
                 "can you make {e} without a [oven|blender|wok]"),
                ("To make {e} you need a [large heavy pan|wok|baking tin|deep pot|food processor] and a wooden spoon. "
                 "You can make {e} without special equipment, but a good pan helps it cook evenly.",
                 "Equipment for {e}: a sharp knife, a cutting board and a [cast iron skillet|loaf tin|stock pot|"
                 "mortar and pestle]."),
            ),
            "serving": (
                ("what to serve with {e}", "side dishes for {e}", "how to serve {e}"),
                ("Serve {e} with [a green salad|crusty bread|steamed rice|roasted vegetables|tortilla chips] and a "
                 "squeeze of lemon. {e} is best eaten warm, straight after cooking.",
                 "Good side dishes for {e} include [pickles|grilled corn|a light soup|fresh fruit]. For a party, "
                 "serve {e} in small bowls so guests can help themselves."),
            ),
        },
    ),
    "health": (
        ("tension headache", "sunburn", "insomnia", "seasonal allergies", "common cold", "heartburn", "ankle sprain",
         "dehydration", "motion sickness", "dry eye"),
        ("{e} is one of the most common reasons people visit a pharmacy.",
         "Millions of people deal with {e} every year.", "Doctors say {e} is often misunderstood."),
        {
            "symptoms": (
                ("what are the symptoms of {e}", "{e} symptoms", "signs of {e} in adults"),
                ("Common symptoms of {e} include [pain|redness|tiredness|itching|swelling] and [trouble sleeping|a "
                 "dry mouth|nausea|blurred vision]. Symptoms of {e} usually appear within {1-48} hours.",
                 "Signs of {e}: most adults notice [mild discomfort|a burning feeling|stiffness|a headache] first, "
                 "followed by [weakness|irritability|sensitivity to light]."),
            ),
            "causes": (
                ("what causes {e}", "{e} causes", "why do i keep getting {e}"),
                ("{e} is caused by [stress|too much sun|poor sleep habits|pollen|a virus|stomach acid|fluid loss]. "
                 "Repeated episodes of {e} often share the same trigger.",
                 "The main causes of {e} are [lifestyle factors|environmental triggers|infection|injury], although "
                 "in about {5-30} percent of cases no clear cause is found."),
            ),
            "treatment": (
                ("how to treat {e}", "{e} treatment at home", "best medicine for {e}"),
                ("Treatment for {e} usually starts at home with [rest|cool compresses|fluids|pain relief|"
                 "antihistamines]. Most cases of {e} improve within a few days with simple care.",
                 "To treat {e}, pharmacists often recommend [ibuprofen|aloe vera gel|a saline spray|an antacid|eye "
                 "drops]. See a doctor if {e} does not improve after {3-14} days."),
            ),
            "duration": (
                ("how long does {e} last", "{e} duration", "how long does it take to recover from {e}"),
                ("{e} typically lasts between {1-3} and {4-14} days. Recovery from {e} is faster with rest and "
                 "plenty of water.",
                 "Most people recover from {e} within {1-4} weeks, but some symptoms can linger for longer in older "
                 "adults."),
            ),
            "prevention": (
                ("how to prevent {e}", "ways to avoid {e}", "can {e} be prevented"),
                ("You can prevent {e} by [managing stress|wearing sunscreen|keeping a regular bedtime|washing your "
                 "hands|drinking water|taking screen breaks]. Simple habits lower the risk of {e} by up to {20-70} "
                 "percent.",
                 "Ways to avoid {e}: plan ahead, notice the early warning signs, and keep a diary of what seems to "
                 "trigger {e}."),
            ),
            "doctor": (
                ("when to see a doctor for {e}", "is {e} serious", "{e} warning signs"),
                ("See a doctor for {e} if symptoms are severe, last more than {3-10} days or come with [a high fever|"
                 "fainting|confusion|chest pain]. In rare cases {e} can be a sign of a more serious problem.",
                 "{e} is rarely serious, but seek urgent care if you notice [difficulty breathing|severe pain|"
                 "vomiting|vision loss]."),
            ),
            "risk_factors": (
                ("who is at risk of {e}", "{e} risk factors", "is {e} more common in [women|children|older adults]"),
                ("Risk factors for {e} include [age|family history|long working hours|fair skin|asthma|hot weather]. "
                 "{e} is about {2-3} times more common in [women|children|older adults] than in other groups.",
                 "People who [work outdoors|sleep badly|smoke|travel often] have a higher risk of {e}."),
            ),
            "diagnosis": (
                ("how is {e} diagnosed", "test for {e}", "{e} diagnosis"),
                ("Doctors diagnose {e} from your symptoms and a short physical examination. Tests for {e} such as "
                 "[blood tests|an x-ray|a sleep study|a skin test] are needed only in unclear cases.",
                 "Diagnosis of {e} usually takes a single visit; the doctor asks how long symptoms have lasted and "
                 "what makes them better or worse."),
            ),
        },
    ),
    "home": (
        ("heat pump", "laptop battery", "wifi router", "electric kettle", "solar panel", "dishwasher",
         "smoke detector", "electric bike", "3d printer", "inkjet printer"),
        ("The {e} is found in many modern homes.", "Reviews of the {e} compare brands on reliability and price.",
         "Sales of the {e} have grown every year."),
        {
            "how_it_works": (
                ("how does a {e} work", "{e} explained", "how a {e} works [simple|step by step]"),
                ("A {e} works by [moving heat|storing charge|sending radio signals|heating a metal coil|turning "
                 "sunlight into current|sensing smoke particles|melting plastic layer by layer]. Inside every {e} a "
                 "small controller manages the process.",
                 "In simple terms, the {e} converts electricity into [heat|motion|a signal|stored energy] using a few "
                 "key parts."),
            ),
            "cost": (
                ("how much does a {e} cost", "{e} price", "is a {e} worth the money"),
                ("A {e} costs between {30-300} and {301-3000} dollars depending on brand and features. Installation "
                 "of a {e} can add to the price.",
                 "{e} prices: entry-level models start around {20-200} dollars, while premium models cost much "
                 "more."),
            ),
            "lifespan": (
                ("how long does a {e} last", "{e} lifespan", "when to replace a {e}"),
                ("A {e} usually lasts {3-25} years with normal use. Replace your {e} when it stops working reliably "
                 "or repairs cost more than half a new one.",
                 "The lifespan of a {e} depends on how often it is used and how well it is maintained."),
            ),
            "maintenance": (
                ("how to clean a {e}", "{e} maintenance tips", "how often should i service my {e}"),
                ("Clean your {e} every {1-12} months: switch it off, remove [dust|limescale|grease|debris] and check "
                 "the [filter|vents|contacts|seals]. Regular maintenance keeps a {e} efficient.",
                 "Maintenance tips for a {e}: keep it dry, update its software if it has any, and book a "
                 "professional check every {1-5} years."),
            ),
            "energy": (
                ("how much electricity does a {e} use", "{e} power consumption", "does a {e} use a lot of energy"),
                ("A typical {e} uses about {5-3000} watts while running, or roughly {1-90} kilowatt hours a month. "
                 "Energy use of a {e} depends on settings and how long it runs.",
                 "Power consumption of the {e} is modest; efficient models carry the best energy label."),
            ),
            "installation": (
                ("how to install a {e}", "can i install a {e} myself", "{e} installation guide"),
                ("Installing a {e} takes about {1-8} hours. Many people install a {e} themselves, but electrical "
                 "connections should be checked by a qualified electrician.",
                 "Installation guide: choose a [dry|well-ventilated|central|sunny] spot, mount the {e} securely and "
                 "follow the manufacturer's wiring diagram."),
            ),
            "troubleshooting": (
                ("why is my {e} not working", "{e} troubleshooting", "{e} keeps [turning off|beeping|flashing]"),
                ("If your {e} is not working, first check the power supply and the [fuse|battery|reset button|"
                 "cable]. A {e} that keeps [turning off|beeping|flashing] often needs a reset or a new part.",
                 "Troubleshooting a {e}: restart it, look for an error code in the manual and make sure nothing "
                 "blocks its [vents|sensors|nozzles]."),
            ),
            "safety": (
                ("is a {e} safe", "{e} safety tips", "can a {e} catch fire"),
                ("A {e} is safe when used as directed, but never leave a faulty {e} running unattended. About {1-9} "
                 "in ten thousand units are recalled for overheating.",
                 "Safety tips for a {e}: keep it away from water, do not cover it, and unplug it before cleaning."),
            ),
        },
    ),
}
# fmt: on


@dataclass(frozen=True)
class Combo:
    """One (topic, entity, aspect): what a query asks and its relevant passages answer."""

    topic: str
    entity: str
    aspect: str


def fill(template: str, entity: str, rng: Random) -> str:
    """Render a template: choices, numbers, the entity, articles and sentence capitals."""
    text = re.sub(r"\[([^\]]+)\]", lambda m: rng.choice(m.group(1).split("|")), template)
    text = re.sub(r"\{(\d+)-(\d+)\}", lambda m: str(rng.randint(int(m.group(1)), int(m.group(2)))), text)
    text = text.replace("{e}", entity)
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)
    return re.sub(r"(^|\.\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def all_combos() -> list[Combo]:
    return [Combo(topic, entity, aspect) for topic, (entities, _, aspects) in TOPICS.items()
            for entity in entities for aspect in aspects]


def build(rng: Random) -> dict[str, list[str]]:
    """Every file's lines (without newlines)."""
    combos = all_combos()
    # Passages: one per combo, a second for some; pids are assigned in shuffled order.
    passages: list[tuple[Combo, str]] = []
    for combo in combos:
        _, fillers, aspects = TOPICS[combo.topic]
        templates = list(aspects[combo.aspect][1])
        rng.shuffle(templates)
        for template in templates[: 2 if rng.random() < SECOND_PASSAGE_SHARE else 1]:
            filler = fill(rng.choice(fillers), combo.entity, rng)
            passages.append((combo, f"{fill(template, combo.entity, rng)} {filler}"))
    rng.shuffle(passages)
    pids: dict[Combo, list[int]] = {}
    for pid, (combo, _) in enumerate(passages):
        pids.setdefault(combo, []).append(pid)

    # Queries: disjoint combos for train and dev; sparse qids, as MS MARCO's are.
    asked = rng.sample(combos, N_TRAIN + N_DEV)
    qids = rng.sample(range(1000, 200_000), N_TRAIN + N_DEV)
    queries = [(qid, combo, fill(rng.choice(TOPICS[combo.topic][2][combo.aspect][0]), combo.entity, rng).lower())
               for qid, combo in zip(qids, asked, strict=True)]
    train, dev = queries[:N_TRAIN], queries[N_TRAIN:]

    def negatives(combo: Combo, kind: str) -> list[int]:
        if kind == "same_entity":
            return [p for c, ps in pids.items() if c.entity == combo.entity and c != combo for p in ps]
        if kind == "same_aspect":
            return [p for c, ps in pids.items() if c.topic == combo.topic and c.aspect == combo.aspect
                    and c != combo for p in ps]
        return [p for c, ps in pids.items() if c.topic != combo.topic for p in ps]

    teacher_ranges = {"same_entity": (-2.0, 2.0), "same_aspect": (-4.0, 1.0), "other_topic": (-8.0, -3.0)}
    texts = [text for _, text in passages]
    triples, id_triples, teacher = [], [], []
    for qid, combo, query in train:
        pos = pids[combo][0]
        for kind, n in NEGATIVES_PER_QUERY.items():
            for neg in rng.sample(negatives(combo, kind), n):
                triples.append(f"{query}\t{texts[pos]}\t{texts[neg]}")
                id_triples.append(f"{qid}\t{pos}\t{neg}")
                teacher.append(f"{rng.uniform(5.0, 10.0):.4f}\t{rng.uniform(*teacher_ranges[kind]):.4f}\t"
                               f"{qid}\t{pos}\t{neg}")

    run = []
    score_ranges = {"relevant": (14.0, 22.0), "same_entity": (12.0, 20.0), "same_aspect": (10.0, 18.0),
                    "other_topic": (3.0, 9.0)}
    for qid, combo, _ in dev:
        pool = [(p, "relevant") for p in pids[combo]]
        for kind, share in (("same_entity", 9), ("same_aspect", 9), ("other_topic", RUN_DEPTH)):
            candidates = negatives(combo, kind)
            pool += [(p, kind) for p in rng.sample(candidates, min(share, len(candidates), RUN_DEPTH - len(pool)))]
        scored = sorted(((round(rng.uniform(*score_ranges[kind]), 4), p) for p, kind in pool),
                        key=lambda s: (-s[0], s[1]))
        run += [f"{qid} Q0 {p} {rank} {score:.4f} {RUN_TAG}" for rank, (score, p) in enumerate(scored, 1)]

    return {
        "collection.tsv": [f"{pid}\t{text}" for pid, text in enumerate(texts)],
        "queries.train.tsv": [f"{qid}\t{query}" for qid, _, query in train],
        "queries.dev.tsv": [f"{qid}\t{query}" for qid, _, query in dev],
        "qrels.train.tsv": [f"{qid}\t0\t{p}\t1" for qid, combo, _ in train for p in pids[combo]],
        "qrels.dev.tsv": [f"{qid}\t0\t{p}\t1" for qid, combo, _ in dev for p in pids[combo]],
        "triples.train.tsv": triples,
        "qidpidtriples.train.tsv": id_triples,
        "teacher_scores.tsv": teacher,
        "run.dev.trec": run,
    }


def sample_dir() -> Path:
    """The shipped sample folder."""
    return SAMPLES_DIR / "msmarco_sample"


def write_samples(out: Path | None = None) -> dict[str, Path]:
    """Write every file into `out` (default: the shipped folder); returns name -> path."""
    out = Path(out) if out is not None else sample_dir()
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, lines in build(Random(SEED)).items():
        write_text(out / name, "".join(f"{line}\n" for line in lines))
        written[name] = out / name
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the bundled MS MARCO-format sample.")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the shipped sample)")
    args = parser.parse_args(argv)
    for path in write_samples(args.out).values():
        print(f"wrote {path} ({len(path.read_text(encoding='utf-8').splitlines())} lines)")


if __name__ == "__main__":
    main()
