"""Deterministic generator for the bundled Quora-style sample dataset (``data=quora_sample``).

The questions are written from scratch out of the tables below -- no real Quora text is used.
Each question expresses a *concept*: one intent (``learn``, ``uninstall``, ``salary`` ...)
about one entity (``Python``, ``a nurse``, ``Lisbon`` ...). A concept is rendered by picking one
of the intent's paraphrase templates, a choice inside every ``[a|b]`` group and one of the
entity's aliases, plus a little Quora-like noise. Then:

* duplicates (``is_duplicate=1``) are all pairs inside a cluster of 2-4 renderings of one
  concept (so dev has multi-relevant retrieval queries);
* non-duplicates (``is_duplicate=0``) join questions of different concepts: hard ones (same
  entity with another intent, or same intent about another entity), medium ones (same topic)
  and easy ones (unrelated topics). Some concepts appear once only and take part in
  non-duplicate pairs alone, as most Quora questions do.

Train and dev are held apart: they never share a concept, hence never a question; dev uses
entities that train never sees, and new intents for entities that train does see. Question
ids (``qid``) are numbered by first appearance, train first, so one text always has one qid.

Regenerate the shipped files (byte-identical) with ``python tools/quora_sample.py``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from random import Random

from pairlab.atomic import write_text
from pairlab.resolvers import SAMPLES_DIR

SEED = 20240611
HEADER = ("id", "qid1", "qid2", "question1", "question2", "is_duplicate")
SPLIT_SIZES = {"train": (480, 720), "dev": (120, 180)}
"""Per split: (duplicate pairs, non-duplicate pairs)."""

CLUSTER_SIZE_WEIGHTS = {2: 0.5, 3: 0.33, 4: 0.17}
SINGLETONS_PER_CLUSTER = 0.8
"""Concepts asked only once (no duplicate), per duplicate cluster."""
INTENTS_PER_ENTITY_WEIGHTS = {1: 0.45, 2: 0.35, 3: 0.2}
DEV_ENTITY_SHARE = 0.15
"""Share of each topic's entities kept for dev only (unseen in train)."""
DEV_NEW_INTENT_SHARE = 0.15
"""Chance that a train entity also gets a dev-only concept with an intent train never pairs it with."""
NEGATIVE_KIND_WEIGHTS = {"same_entity": 0.35, "same_intent": 0.25, "same_topic": 0.1, "other_topic": 0.3}
CANONICAL_ALIAS_CHANCE = 0.65
NOISE = {"lowercase": 0.03, "no_question_mark": 0.02, "suffix": 0.05}
SUFFIXES = ("Any suggestions?", "Please help.", "Any advice would be appreciated.", "Thanks in advance.")

# --- Entities per topic. "|" separates aliases; the first one names the entity. ---

# fmt: off
ENTITIES: dict[str, tuple[str, ...]] = {
    "programming": (
        "Python", "Java", "JavaScript|JS", "C++", "C#", "Rust", "Go|Golang", "Ruby", "PHP", "Swift",
        "Kotlin", "Scala", "Haskell", "R", "MATLAB", "TypeScript", "Perl", "Julia", "Elixir", "Dart",
        "Lua", "Clojure", "Erlang", "Fortran", "COBOL", "Objective-C",
    ),
    "language": (
        "Spanish", "French", "German", "Japanese", "Mandarin|Mandarin Chinese", "Korean", "Arabic",
        "Russian", "Italian", "Portuguese", "Hindi", "Dutch", "Swedish", "Turkish", "Greek", "Latin",
        "Hebrew", "Polish", "Vietnamese", "Swahili", "Esperanto", "American Sign Language|ASL",
    ),
    "hobby": (
        "chess", "photography", "guitar", "piano", "painting", "drawing", "knitting", "yoga",
        "swimming", "surfing", "gardening", "baking", "woodworking", "pottery", "calligraphy",
        "origami", "juggling", "rock climbing", "skateboarding", "salsa dancing", "meditation",
        "bird watching", "beekeeping", "archery", "violin", "drums",
    ),
    "country": (
        "Canada", "Germany", "Japan", "Australia", "Brazil", "India", "France", "Italy", "Spain",
        "Mexico", "Norway", "Sweden", "New Zealand", "Singapore", "South Korea",
        "the Netherlands|Holland", "Ireland", "Portugal", "Argentina", "Chile", "Egypt", "Kenya",
        "Thailand", "Vietnam", "Turkey", "Poland", "Greece", "Iceland", "Switzerland", "Austria",
        "Denmark", "Finland", "Peru", "Colombia", "Morocco", "Indonesia", "Malaysia",
        "the Philippines", "the United States|the US|the USA", "the United Kingdom|the UK", "Russia",
        "China", "South Africa", "Israel", "the UAE", "Croatia",
    ),
    "city": (
        "Paris", "London", "Tokyo", "New York|NYC|New York City", "Berlin", "Rome", "Barcelona",
        "Dubai", "Sydney", "Toronto", "Bangalore|Bengaluru", "Mumbai|Bombay", "Delhi", "Amsterdam",
        "Prague", "Vienna", "Lisbon", "Istanbul", "Seoul", "Bangkok", "Hong Kong",
        "San Francisco|SF", "Chicago", "Boston", "Seattle", "Los Angeles|LA", "Melbourne",
        "Vancouver", "Munich", "Kyoto", "Cape Town", "Buenos Aires", "Rio de Janeiro|Rio",
        "Budapest", "Edinburgh",
    ),
    "career": (
        "a doctor|a physician", "a lawyer|an attorney", "a software engineer|a software developer",
        "a data scientist", "a pilot|a commercial pilot", "a nurse", "an architect",
        "a chartered accountant|a CA", "a teacher|a school teacher", "a chef", "a journalist",
        "a civil engineer", "a graphic designer", "a psychologist", "a dentist", "a pharmacist",
        "an investment banker", "a product manager", "a UX designer", "a firefighter",
        "a police officer", "an electrician", "a veterinarian|a vet", "an actor", "a flight attendant",
        "an air traffic controller", "a marine biologist", "a game developer",
    ),
    "health": (
        "diabetes", "migraines", "asthma", "anxiety", "insomnia", "acne", "back pain",
        "high blood pressure|hypertension", "the flu", "eczema", "arthritis", "food poisoning",
        "the common cold|a cold", "dandruff", "hair loss", "heartburn|acid reflux", "sinusitis",
        "anemia", "kidney stones", "gout", "psoriasis", "vertigo", "tinnitus", "sleep apnea",
    ),
    "finance": (
        "stocks|the stock market", "mutual funds", "bitcoin", "gold", "real estate", "index funds",
        "government bonds", "ETFs", "ethereum", "silver", "REITs", "penny stocks", "startups",
        "peer-to-peer lending", "cryptocurrency|crypto", "fixed deposits", "commodities", "farmland",
    ),
    "company": (
        "Google", "Amazon", "Apple", "Microsoft", "Tesla", "Netflix", "Uber", "Airbnb", "Infosys",
        "TCS", "IBM", "Deloitte", "Goldman Sachs", "McKinsey", "Accenture", "Intel", "Oracle",
        "Adobe", "Salesforce", "SpaceX", "Nvidia", "Wipro",
    ),
    "science": (
        "quantum entanglement", "photosynthesis", "general relativity", "dark matter", "evolution",
        "the Big Bang", "DNA replication", "climate change", "gravity", "string theory",
        "the Higgs boson", "plate tectonics", "entropy", "nuclear fusion", "superconductivity",
        "CRISPR", "quantum computing", "special relativity", "natural selection",
        "the greenhouse effect", "dark energy", "the uncertainty principle", "antimatter",
        "the placebo effect", "neuroplasticity", "game theory",
    ),
    "app": (
        "Facebook|FB", "Instagram", "Twitter", "Snapchat", "LinkedIn", "Gmail", "Reddit", "Pinterest",
        "WhatsApp", "Skype", "Spotify", "Tinder", "Tumblr", "YouTube", "Quora", "Yahoo Mail",
        "Telegram", "Discord",
    ),
    "exam": (
        "GRE", "GMAT", "SAT", "ACT", "IELTS", "TOEFL", "CAT", "JEE", "GATE", "UPSC", "MCAT", "LSAT",
        "NEET", "PTE",
    ),
}
# fmt: on

TOPIC_INTENTS: dict[str, tuple[str, ...]] = {
    "programming": ("learn", "uninstall", "jobs", "time_to_learn", "learn_alone"),
    "language": ("learn", "learn_alone", "time_to_learn", "difficulty"),
    "hobby": ("get_better", "take_up", "learn_alone", "time_to_learn"),
    "country": ("immigrate", "tourist_visa", "best_time", "cost_of_living", "sights", "safety"),
    "city": ("best_time", "cost_of_living", "sights", "safety"),
    "career": ("become", "salary", "too_late"),
    "health": ("symptoms", "treatment", "prevention", "causes"),
    "finance": ("invest", "good_investment", "books"),
    "company": ("get_job", "work_culture", "interview", "good_investment"),
    "science": ("explain", "books", "misconceptions"),
    "app": ("delete_account", "reset_password", "hacked"),
    "exam": ("prepare", "good_score", "self_study"),
}

# --- Paraphrase templates per intent: {e} is the entity, [a|b] a choice of wording. ---

INTENTS: dict[str, tuple[str, ...]] = {
    "learn": (
        "[How do I|How can I|How should I] learn {e}?",
        "What is the [best|most effective] way to learn {e}?",
        "How should a [beginner|complete beginner|newbie] start learning {e}?",
        "What are [the best|some good] resources [to learn|for learning] {e}?",
        "Where should I start if I want to learn {e}?",
        "I want to learn {e}. Where do I [start|begin]?",
    ),
    "uninstall": (
        "[How do I|How can I] uninstall {e}?",
        "How [can I|do I] completely remove {e} from my [computer|PC|laptop]?",
        "What is the [cleanest|proper|right] way to uninstall {e}?",
        "How do I get rid of {e} on my [computer|PC|laptop]?",
        "I want to remove {e} from my [PC|computer]. How do I do it?",
    ),
    "jobs": (
        "Is {e} [good|useful] for getting a job?",
        "Can learning {e} help me [get a job|find a job]?",
        "Are there [many|enough] jobs for {e} developers?",
        "What are the job prospects for [someone|a developer] who knows {e}?",
    ),
    "time_to_learn": (
        "How long does it take to learn {e}?",
        "How [much time|many months] [does it take|do I need] to learn {e}?",
        "How long will it take me to learn {e} [properly|well]?",
        "What is a realistic [time frame|timeline] for learning {e}?",
    ),
    "learn_alone": (
        "Can I learn {e} [on my own|by myself]?",
        "Is it possible to teach myself {e}?",
        "Can [you|someone] learn {e} without a [teacher|tutor|class]?",
        "Is self-study enough to learn {e}?",
        "Can I teach myself {e} at home?",
    ),
    "difficulty": (
        "Is {e} hard to learn for [English speakers|a native English speaker]?",
        "How difficult is {e} for [a native English speaker|an English speaker]?",
        "Is {e} a difficult language to learn?",
        "How hard is it for an English speaker to learn {e}?",
    ),
    "get_better": (
        "How can I get better at {e}?",
        "[How do I|How can I] improve [at|my skills in] {e}?",
        "What are some tips to get good at {e}?",
        "How do I get really good at {e}?",
        "What should I do to improve quickly at {e}?",
    ),
    "take_up": (
        "How do I get started with {e}?",
        "How should a complete beginner get into {e}?",
        "What do I need to [take up|start] {e} as a hobby?",
        "I want to take up {e}. [Where do I begin|How do I start]?",
    ),
    "immigrate": (
        "How can I immigrate to {e}?",
        "What is the process [of|for] moving to {e} permanently?",
        "How do I get permanent residency in {e}?",
        "What is the easiest way to immigrate to {e}?",
        "How can a foreigner settle permanently in {e}?",
    ),
    "tourist_visa": (
        "How do I [apply for|get] a tourist visa for {e}?",
        "What is the process to get a tourist visa to {e}?",
        "How can I get a visitor visa for {e}?",
        "What are the steps to apply for a tourist visa to {e}?",
    ),
    "best_time": (
        "What is the best time [to visit|of year to visit] {e}?",
        "When is the best season to travel to {e}?",
        "Which month is [ideal|best] for a trip to {e}?",
        "When should I plan [a trip|my trip|a vacation] to {e}?",
    ),
    "cost_of_living": (
        "What is the cost of living in {e}?",
        "How expensive is it to live in {e}?",
        "How much money do I need [per month|a month] to live in {e}?",
        "Is living in {e} expensive?",
    ),
    "sights": (
        "What are the best places to visit in {e}?",
        "Which places should [I|one] not miss in {e}?",
        "What are the must-see [attractions|sights|tourist spots] in {e}?",
        "What should I see on my first trip to {e}?",
    ),
    "safety": (
        "Is {e} safe for tourists?",
        "How safe is {e} for [travellers|tourists|foreign tourists]?",
        "Is it safe to travel to {e}?",
        "Is {e} a safe place to [visit|travel to]?",
    ),
    "become": (
        "How do I become {e}?",
        "What steps should I take to become {e}?",
        "What does it take to become {e}?",
        "What is the path to becoming {e}?",
        "I want to become {e}. Where do I start?",
    ),
    "salary": (
        "How much does {e} earn?",
        "What is the average salary of {e}?",
        "How much money does {e} make [per year|a year|in a year]?",
        "What is the typical [income|pay] of {e}?",
        "How well paid is {e}?",
    ),
    "too_late": (
        "Is it too late to become {e} at 30?",
        "Can I become {e} at the age of 30?",
        "Am I too old at 30 to start a career as {e}?",
        "Is 30 too old to [become|start training as] {e}?",
    ),
    "symptoms": (
        "What are the [symptoms|signs] of {e}?",
        "What are the early [signs|symptoms] of {e}?",
        "How do I know if I have {e}?",
        "How can you tell if someone has {e}?",
    ),
    "treatment": (
        "What is the best treatment for {e}?",
        "How can I cure {e}?",
        "How is {e} [treated|usually treated]?",
        "What is the most effective way to treat {e}?",
        "How do doctors treat {e}?",
    ),
    "prevention": (
        "How can I prevent {e}?",
        "What can I do to avoid {e}?",
        "How do I lower my risk of {e}?",
        "Is there [a way|any way] to prevent {e}?",
        "What are the best ways to prevent {e}?",
    ),
    "causes": (
        "What causes {e}?",
        "What are the [main|most common] causes of {e}?",
        "Why do people get {e}?",
        "What is the [main|usual] reason behind {e}?",
    ),
    "invest": (
        "How do I start investing in {e}?",
        "What is the best way to invest in {e}?",
        "How can a beginner invest in {e}?",
        "How should I get started with investing in {e}?",
        "I want to invest in {e}. How do I begin?",
    ),
    "good_investment": (
        "Is investing in {e} a good idea [right now|now|today]?",
        "Should I invest in {e} this year?",
        "Is it a good time to put money into {e}?",
        "Is investing in {e} worth it [now|today|right now]?",
        "Does it make sense to buy {e} [now|today]?",
    ),
    "books": (
        "What are the best books [on|about] {e}?",
        "Which books should I read to understand {e}?",
        "Can [you|anyone] recommend a good book about {e}?",
        "What is a good [introductory|beginner's] book on {e}?",
    ),
    "get_job": (
        "How do I get a job at {e}?",
        "How can I get hired [by|at] {e}?",
        "What is the best way to land a job at {e}?",
        "What should I do to get a job [at|with] {e}?",
    ),
    "work_culture": (
        "What is it like to work at {e}?",
        "How is the work culture at {e}?",
        "Is {e} a good company to work for?",
        "What do employees [think|say] about working at {e}?",
    ),
    "interview": (
        "How should I prepare for [an|the] interview at {e}?",
        "How do I prepare for the {e} interview?",
        "How can I crack the {e} interview?",
        "What is the best way to prepare for a job interview at {e}?",
        "What are some tips for [clearing|cracking] the {e} interview?",
    ),
    "explain": (
        "What is {e} in simple terms?",
        "Can someone explain {e} [simply|in simple words|in layman's terms]?",
        "How would you explain {e} to a [child|five year old|ten year old]?",
        "What is the simplest explanation of {e}?",
    ),
    "misconceptions": (
        "What are [common|the most common] misconceptions about {e}?",
        "What do most people get wrong about {e}?",
        "What are the biggest myths about {e}?",
        "What are some popular misunderstandings of {e}?",
    ),
    "delete_account": (
        "How do I delete my {e} account?",
        "How can I permanently delete my {e} account?",
        "What is the way to [delete|close] my {e} account [permanently|for good]?",
        "How can I remove my {e} account completely?",
    ),
    "reset_password": (
        "How do I reset my {e} password?",
        "I forgot my {e} password. How can I reset it?",
        "How can I recover my {e} password?",
        "What should I do if I forgot my {e} password?",
    ),
    "hacked": (
        "What should I do if my {e} account [was|got|has been] hacked?",
        "My {e} account got hacked. [What can I do|How do I get it back]?",
        "How do I recover a hacked {e} account?",
        "How can I get back my {e} account after it was hacked?",
    ),
    "prepare": (
        "How should I prepare for the {e}?",
        "What is the best way to prepare for the {e}?",
        "How do I study for the {e}?",
        "What is a good [study plan|preparation strategy] for the {e}?",
    ),
    "good_score": (
        "What is a good score on the {e}?",
        "What {e} score is considered good?",
        "What counts as a good {e} score?",
        "What is considered a [good|decent] {e} score?",
    ),
    "self_study": (
        "Can I crack the {e} without coaching?",
        "Is it possible to prepare for the {e} without [coaching|a coaching class]?",
        "Can I clear the {e} by self-study [alone|only]?",
        "Is self-study enough to crack the {e}?",
    ),
}

_CHOICE = re.compile(r"\[([^\[\]]+)\]")
_ALIASES = {spec.split("|")[0]: spec.split("|") for specs in ENTITIES.values() for spec in specs}


@dataclass(frozen=True)
class Concept:
    """What a question asks: one intent about one entity of one topic."""

    topic: str
    entity: str
    intent: str


@dataclass(frozen=True)
class Question:
    """A rendered question and the concept it expresses."""

    text: str
    concept: Concept


@dataclass(frozen=True)
class Pair:
    """One labelled row before ids are assigned."""

    question1: str
    question2: str
    is_duplicate: int


def aliases(entity: str) -> list[str]:
    """Every surface form of `entity` (canonical name first)."""
    return _ALIASES[entity]


def _weighted(rng: Random, weights: dict, k: int = 1) -> list:
    """`k` draws (with replacement) from the keys of `weights`."""
    return rng.choices(list(weights), weights=list(weights.values()), k=k)


def render(concept: Concept, template: str, rng: Random) -> str:
    """Fill one template for `concept`: choices, an entity alias, then light noise."""
    text = _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    names = aliases(concept.entity)
    name = names[0] if len(names) == 1 or rng.random() < CANONICAL_ALIAS_CHANCE else rng.choice(names[1:])
    text = text.replace("{e}", name)
    if rng.random() < NOISE["suffix"]:
        text = f"{text} {rng.choice(SUFFIXES)}"
    elif rng.random() < NOISE["no_question_mark"]:
        text = text.rstrip("?")
    if rng.random() < NOISE["lowercase"]:
        text = text[0].lower() + text[1:]
    return text


def plan_concepts(rng: Random) -> tuple[list[Concept], list[Concept]]:
    """Candidate (train, dev) concepts; the two lists never share a concept.

    Per topic, a share of the entities is dev-only. Every other entity gets 1-3 train intents
    and sometimes 1-2 more intents that only dev asks about it. Each list is shuffled by
    entity, keeping an entity's concepts next to each other so that they are used together
    (which is what makes same-entity hard negatives possible).
    """
    train: list[list[Concept]] = []
    dev: list[list[Concept]] = []
    for topic, specs in ENTITIES.items():
        entities = [spec.split("|")[0] for spec in specs]
        rng.shuffle(entities)
        n_dev_only = round(len(entities) * DEV_ENTITY_SHARE)
        intents = list(TOPIC_INTENTS[topic])
        for i, entity in enumerate(entities):
            k = min(_weighted(rng, INTENTS_PER_ENTITY_WEIGHTS)[0], len(intents))
            chosen = rng.sample(intents, k)
            if i < n_dev_only:
                dev.append([Concept(topic, entity, intent) for intent in chosen])
                continue
            train.append([Concept(topic, entity, intent) for intent in chosen])
            unused = [intent for intent in intents if intent not in chosen]
            if unused and rng.random() < DEV_NEW_INTENT_SHARE:
                extra = rng.sample(unused, min(len(unused), rng.choice((1, 2))))
                dev.append([Concept(topic, entity, intent) for intent in extra])
    rng.shuffle(train)
    rng.shuffle(dev)
    return [c for group in train for c in group], [c for group in dev for c in group]


def render_cluster(concept: Concept, size: int, rng: Random, taken: set[str]) -> list[Question]:
    """Up to `size` distinct renderings of `concept`, preferring distinct templates.

    `taken` holds every text already used (by any concept) and is updated in place.
    """
    templates = list(INTENTS[concept.intent])
    rng.shuffle(templates)
    questions: list[Question] = []
    for i in range(size):
        for attempt in range(25):
            text = render(concept, templates[(i + attempt) % len(templates)], rng)
            if text not in taken:
                taken.add(text)
                questions.append(Question(text, concept))
                break
    return questions


def build_questions(
    concepts: Sequence[Concept], n_duplicates: int, rng: Random, taken: set[str]
) -> list[list[Question]]:
    """Clusters of questions, one per concept used: enough clusters of 2-4 to give exactly
    `n_duplicates` duplicate pairs, then singletons (clusters of one)."""
    clusters: list[list[Question]] = []
    pending = iter(concepts)

    def next_concept() -> Concept:
        concept = next(pending, None)
        if concept is None:
            raise RuntimeError("ran out of candidate concepts; add entities or lower the split sizes")
        return concept

    missing = n_duplicates
    while missing > 0:
        size = _weighted(rng, CLUSTER_SIZE_WEIGHTS)[0]
        while size * (size - 1) // 2 > missing:
            size -= 1
        cluster = render_cluster(next_concept(), size, rng, taken)
        if len(cluster) >= 2:
            clusters.append(cluster)
            missing -= len(cluster) * (len(cluster) - 1) // 2
    n_singletons = round(len(clusters) * SINGLETONS_PER_CLUSTER)
    while n_singletons > 0:
        cluster = render_cluster(next_concept(), 1, rng, taken)
        if cluster:
            clusters.append(cluster)
            n_singletons -= 1
    return clusters


def duplicate_pairs(clusters: Sequence[Sequence[Question]]) -> list[Pair]:
    """Every pair inside every cluster, labelled 1."""
    return [Pair(a.text, b.text, 1) for cluster in clusters for a, b in combinations(cluster, 2)]


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _is_partner(kind: str, anchor: Concept, other: Concept) -> bool:
    """Whether `other` is a non-duplicate partner of `kind` for `anchor` (never the same concept)."""
    if other == anchor:
        return False
    if kind == "same_entity":
        return other.entity == anchor.entity
    if kind == "same_intent":
        return other.intent == anchor.intent and other.entity != anchor.entity
    if kind == "same_topic":
        return other.topic == anchor.topic and other.entity != anchor.entity and other.intent != anchor.intent
    return other.topic != anchor.topic


def non_duplicate_pairs(clusters: Sequence[Sequence[Question]], n_pairs: int, rng: Random) -> list[Pair]:
    """`n_pairs` pairs of questions from different concepts, labelled 0.

    The anchor is always a least-used question, counting its duplicate pairs too (so every
    question gets paired, singletons first); the partner is drawn by kind (hard kinds fall
    back to easier ones when the anchor has no such partner), preferring little-used questions.
    """
    questions = [q for cluster in clusters for q in cluster]
    usage = {q.text: len(cluster) - 1 for cluster in clusters for q in cluster}
    tiebreak = {q.text: rng.random() for q in questions}
    seen: set[tuple[str, str]] = set()
    fallback = list(NEGATIVE_KIND_WEIGHTS)
    pairs: list[Pair] = []
    while len(pairs) < n_pairs:
        anchor = min(questions, key=lambda q: (usage[q.text], tiebreak[q.text]))
        wanted = _weighted(rng, NEGATIVE_KIND_WEIGHTS)[0]
        partners: list[Question] = []
        for kind in fallback[fallback.index(wanted) :]:
            partners = [
                q
                for q in questions
                if _is_partner(kind, anchor.concept, q.concept) and _pair_key(anchor.text, q.text) not in seen
            ]
            if partners:
                break
        if not partners:
            raise RuntimeError(f"no non-duplicate partner left for {anchor.text!r}")
        low = min(usage[q.text] for q in partners)
        partner = rng.choice([q for q in partners if usage[q.text] <= low + 1])
        seen.add(_pair_key(anchor.text, partner.text))
        usage[anchor.text] += 1
        usage[partner.text] += 1
        tiebreak[anchor.text] = rng.random()
        pairs.append(Pair(anchor.text, partner.text, 0))
    return pairs


def build_dataset(seed: int = SEED) -> dict[str, list[Pair]]:
    """The labelled pairs of each split, in file order (question order inside a pair is random)."""
    rng = Random(seed)
    candidates = dict(zip(("train", "dev"), plan_concepts(rng), strict=True))
    taken: set[str] = set()
    splits: dict[str, list[Pair]] = {}
    for split, (n_dup, n_non_dup) in SPLIT_SIZES.items():
        clusters = build_questions(candidates[split], n_dup, rng, taken)
        pairs = duplicate_pairs(clusters) + non_duplicate_pairs(clusters, n_non_dup, rng)
        pairs = [p if rng.random() < 0.5 else Pair(p.question2, p.question1, p.is_duplicate) for p in pairs]
        rng.shuffle(pairs)
        splits[split] = pairs
        if split == "train":
            _check_coverage(clusters)
    return splits


def _check_coverage(train_clusters: Sequence[Sequence[Question]]) -> None:
    """Fail loudly if a table edit left some intent without a duplicate cluster in train."""
    covered = {cluster[0].concept.intent for cluster in train_clusters if len(cluster) > 1}
    missing = sorted(set(INTENTS) - covered)
    if missing:
        raise RuntimeError(f"intents without a train duplicate cluster: {missing}; change SEED or tables")


def to_tsv(splits: dict[str, list[Pair]]) -> dict[str, str]:
    """TSV text per split; pair ids run on across splits and qids number texts by first appearance."""
    qids: dict[str, int] = {}
    next_id = 0
    files: dict[str, str] = {}
    for split, pairs in splits.items():
        lines = ["\t".join(HEADER)]
        for pair in pairs:
            for text in (pair.question1, pair.question2):
                qids.setdefault(text, len(qids) + 1)
            row = (next_id, qids[pair.question1], qids[pair.question2], pair.question1, pair.question2)
            lines.append("\t".join(map(str, (*row, pair.is_duplicate))))
            next_id += 1
        files[split] = "\n".join(lines) + "\n"
    return files


def sample_dir() -> Path:
    """The folder holding the shipped ``train.tsv`` and ``dev.tsv``."""
    return SAMPLES_DIR / "quora_sample"


def write_samples(out_dir: Path | str | None = None, seed: int = SEED) -> dict[str, Path]:
    """Generate the dataset and write ``<split>.tsv`` files atomically into `out_dir`
    (default: `sample_dir()`). Returns the written paths by split."""
    target = Path(out_dir) if out_dir is not None else sample_dir()
    target.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for split, text in to_tsv(build_dataset(seed)).items():
        paths[split] = target / f"{split}.tsv"
        write_text(paths[split], text)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: (re)write the sample files and print their row counts."""
    parser = argparse.ArgumentParser(description="Regenerate the bundled Quora-format sample dataset.")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the shipped one)")
    args = parser.parse_args(argv)
    for split, path in write_samples(args.out).items():
        n_rows = path.read_text(encoding="utf-8").count("\n") - 1
        print(f"{split}: {n_rows} pairs -> {path}")


if __name__ == "__main__":
    main()
