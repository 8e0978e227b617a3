"""MS MARCO passage ranking: raw files or hub datasets -> pointwise, listwise or teacher example sets.

Local files (headerless; `.gz` is decompressed once into the index cache):

* `collection.tsv` (`pid<TAB>passage`), `queries.*.tsv` (`qid<TAB>query`): `KeyedTsv` lookups.
* qrels: TREC `qid 0 pid rel` or `qid pid` (relevance 1), tab- or space-separated.
* `qidpidtriples.train.full.2.tsv(.gz)`: `qid<TAB>pos_pid<TAB>neg_pid`; text triples
  `triples.train.small.tsv`: `query<TAB>positive<TAB>negative` (the format is detected from the
  first row: three integers are ids).
* TREC run files `qid Q0 pid rank score tag` (or MS MARCO's `qid<TAB>pid<TAB>rank`).
* Hofstaetter et al.'s teacher file `bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv`:
  `pos_score<TAB>neg_score<TAB>qid<TAB>pos_pid<TAB>neg_pid`.

Training rows are read lazily: an example set keeps line offsets on disk (`pairlab.io.indexed`)
and resolves ids to texts per `__getitem__`, so memory stays flat whatever the file size.

* pointwise (query, passage) + 0/1 label: row r of the selection is the positive of its triple
  when r % (k + 1) == 0, else its negative: 1 positive per k negatives (k =
  `negatives_per_positive`; the sentence-transformers cross-encoder recipe uses 4).
* listwise (query, positive, negative_1..k): k consecutive triples sharing query and positive
  (qidpidtriples lists the negatives of a (query, positive) together) form a row.
* teacher triples (query, positive, negative) + (pos_score, neg_score).

Hub ids (online only; `datasets.load_dataset`) give the same example sets:
`sentence-transformers/msmarco` subsets `triplets` (pointwise/listwise), `labeled-list`
(listwise), `bert-ensemble-margin-mse` and `bert-ensemble-mse` (teacher), joined through its
`corpus` and `queries` subsets; `sentence-transformers/msmarco-bm25` subset `triplet` (texts).

Paths: relative file keys resolve against `data.source` when it is a folder (configs name a bundled
sample as `${pairlab_sample:<name>}`).
"""

from pairlab.data.msmarco.sets import POINTWISE, SCORED_PAIRS, TEACHER, split_rows
from pairlab.data.msmarco.source import MsMarcoData, MsMarcoKDData, MsMarcoSource

__all__ = ["POINTWISE", "SCORED_PAIRS", "TEACHER", "MsMarcoData", "MsMarcoKDData", "MsMarcoSource", "split_rows"]
