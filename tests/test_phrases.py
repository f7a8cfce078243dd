"""Phrases: quoted terms in the groups file become one token in the corpus, and detected collocations are gensim's."""

from __future__ import annotations

import pytest
from gensim.models.phrases import Phrases
from pyspark.sql import functions as F

from bench.phrases_bench import gensim_phrases
from swapvec.collocations import detect
from swapvec.config import InputConfig, TokenizeConfig, load_config
from swapvec.errors import BadInput
from swapvec.explore import explore
from swapvec.groups import check_groups_file, parse_file
from swapvec.phrases import apply
from swapvec.pipeline import execute
from swapvec.store import read_corpus
from swapvec.tokenize import python_spelling, token_rows
from tests.conftest import read_independently


def test_a_phrase_is_written_in_quotes_and_checked_word_by_word(tmp_path):
    parsed = parse_file('entertainment: movies "Motion   Picture"\n"new york" != "los angeles" boston')
    assert parsed.groups == [(1, "entertainment", ["movies", "Motion Picture"])]
    assert parsed.repels == [(2, ["new york"], ["los angeles", "boston"])]
    assert parsed.phrases(lambda w: python_spelling(w, TokenizeConfig())) == {
        ("motion", "picture"),
        ("new", "york"),
        ("los", "angeles"),
    }
    for line, message in [
        ('movies "motion picture', "a phrase is written in double quotes"),
        ('movies "" films', 'empty quotes ""'),
        ('"motion picture" "feature film": movies', "a hub is one word or one"),
    ]:
        with pytest.raises(BadInput, match=message):
            parse_file(line)
    file = tmp_path / "groups.txt"
    for text, message in [
        ("entertainment: movies motion_picture\n", r"""2 tokens \['motion', 'picture'\].*"motion picture"\)"""),
        ('entertainment: movies "c++ programming"\n', r"'c\+\+' is 'c'"),
        ('entertainment: movies "Motion Picture"\nfilm "motion picture"\n', "'motion_picture' is also on line 1"),
    ]:
        file.write_text(text, encoding="utf-8")
        with pytest.raises(BadInput, match=message):
            check_groups_file(str(file), TokenizeConfig(), "swap")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("phrase_joiner", "x", "none a letter"),
        ("phrase_joiner", " ", "none a letter"),
        ("phrase_threshold", "0", "must be > 0 with phrase_scoring default"),
        ("phrase_passes", "4", "less than or equal to 3"),
    ],
)
def test_phrase_settings_are_checked(key, value, message):
    with pytest.raises(BadInput, match=message):
        load_config(None, ["input.path=sample:lee", f"tokenize.{key}={value}"])
    npmi = load_config(None, ["input.path=sample:lee", "tokenize.phrase_scoring=npmi"]).tokenize
    assert npmi.threshold == 0.5
    with pytest.raises(BadInput, match="between -1 and 1"):
        load_config(None, ["input.path=sample:lee", "tokenize.phrase_scoring=npmi", "tokenize.phrase_threshold=2"])


def test_named_phrases_are_joined_longest_first(spark):
    rows = spark.createDataFrame(
        [(0, ["in", "new", "york", "city", "a", "new", "york", "times"]), (1, ["york", "new"])],
        "sentence_id bigint, tokens array<string>",
    )
    joined = apply(rows, {("new", "york"), ("new", "york", "city")}, [], "+").orderBy("sentence_id").collect()
    assert [r.tokens for r in joined] == [["in", "new+york+city", "a", "new+york", "times"], ["york", "new"]]


@pytest.mark.parametrize(
    ("scoring", "threshold", "connectors"), [("default", 10.0, []), ("npmi", 0.5, []), ("npmi", 0.3, "english")]
)
def test_detected_phrases_are_the_ones_gensim_finds(spark, scoring, threshold, connectors):
    """Two passes on the Lee corpus, each against gensim's ``Phrases`` on the same tokens and settings."""
    settings = {"phrase_scoring": scoring, "phrase_threshold": threshold, "phrase_connectors": connectors}
    cfg = TokenizeConfig(phrases=True, phrase_min_count=3, **settings)
    rows = token_rows(read_corpus(spark, InputConfig(path="sample:lee")), cfg).persist()
    detected = detect(rows, cfg, set())
    sentences = [r.tokens for r in rows.orderBy("sentence_id").collect()]
    for number in (1, 2):
        reference = Phrases(
            sentences, min_count=3, threshold=threshold, scoring=scoring, delimiter="_", connector_words=cfg.connectors
        )
        ours = {p.phrase: p for p in detected.phrases if p.pass_number == number}
        theirs = gensim_phrases(reference, sentences)
        assert set(ours) == set(theirs), f"pass {number}"
        assert all(ours[p].score == pytest.approx(theirs[p], rel=1e-9) for p in ours)
        sentences = [reference[s] for s in sentences]  # gensim's own application, for its second pass
    assert len(detected.phrases) > 50
    if connectors:
        assert any(p.between for p in detected.phrases)  # such as prime_minister_of_australia
    ours = detected.rows.orderBy("sentence_id").select("tokens").collect()
    assert [r.tokens for r in ours] == sentences
    rows.unpersist()


def test_a_quoted_phrase_is_trained_as_one_token_and_reported_as_written(spark, tmp_path):
    corpus = tmp_path / "corpus.txt"
    lines = ["entertainment films Movies cinema", "entertainment Movies", "entertainment films", "a Motion  Picture"]
    lines += ["entertainment cinema", "the motion picture industry", "motion is not a picture"]
    corpus.write_text("\n".join(lines * 40) + "\n", encoding="utf-8")
    groups = tmp_path / "groups.txt"
    groups.write_text('entertainment: movies films cinema "motion picture"\n', encoding="utf-8")
    out = tmp_path / "out"
    cfg = load_config(
        None,
        [
            f"input.path={corpus}",
            f"augment.groups_path={groups}",
            f"output.path={out}",
            "output.format=parquet",
            "train.min_count=1",
            "tokenize.phrases=true",
            "tokenize.phrase_min_count=3",
            "tokenize.phrase_threshold=0.5",  # low, so that "entertainment films" would be a phrase
        ],
    )
    record = execute(spark, cfg, "run")
    sims = read_independently(out / "similarities", "parquet").to_pylist()
    nearest = {r["word"]: r["neighbor"] for r in sims if r["rank"] == 1}
    assert nearest["motion_picture"] == "entertainment"
    words = {r["word"] for r in read_independently(out / "vectors", "parquet").to_pylist()}
    assert not [w for w in words if "motion_picture" in w and w != "motion_picture"]  # a group word is never joined
    assert '"motion picture" -> entertainment 1' in record.summary
    assert "entertainment: movies films cinema" in record.summary
    # Detection never swallows a group word ("entertainment films" is frequent here), and its table is written.
    phrases = read_independently(out / "phrases", "parquet").to_pylist()
    assert phrases and not any({p["left"], p["right"]} & {"entertainment", "films", "movies"} for p in phrases)
    assert {"phrase", "left", "right", "between", "pass", "count", "score", "run_id"} == set(phrases[0])
    assert record.metrics["phrases_detected"] == len(phrases)
    report = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert '"motion picture"' in report
    found = explore(spark, cfg.output, '"Motion  Picture", cinema, "no such phrase"')
    rows = found.neighbours.where("rank = 1").collect()
    assert {(r.word, r.neighbor) for r in rows} == {("motion picture", "entertainment"), ("cinema", "entertainment")}
    assert found.absent == ['"no such phrase"']


def test_the_tokenize_command_joins_named_phrases_and_augment_joins_them_in_older_sentences(spark, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("we saw a motion picture\nmovies and films\n", encoding="utf-8")
    groups = tmp_path / "groups.txt"
    groups.write_text('"motion picture" movies films\n', encoding="utf-8")
    base = [f"input.path={corpus}", f"output.path={tmp_path / 'out'}", "output.format=parquet"]
    execute(spark, load_config(None, base), "tokenize")  # no groups file: no phrase known
    execute(spark, load_config(None, [*base, f"augment.groups_path={groups}"]), "augment")
    augmented = spark.read.parquet(str(tmp_path / "out" / "augmented"))
    originals = augmented.where("copy = 0").orderBy("sentence_id").select("tokens").collect()
    assert originals[0].tokens == ["we", "saw", "a", "motion_picture"]
    copies = {tuple(r.tokens) for r in augmented.where(F.col("copy") > 0).collect()}
    assert ("we", "saw", "a", "movies") in copies


def test_a_threshold_that_lets_too_many_pairs_through_is_refused(spark, monkeypatch):
    monkeypatch.setattr("swapvec.collocations.MAX_PHRASES", 2)
    rows = spark.createDataFrame(
        [(i, ["a", "b", "c", "d"]) for i in range(10)], "sentence_id bigint, tokens array<string>"
    )
    cfg = TokenizeConfig(phrases=True, phrase_min_count=1, phrase_threshold=0.001)
    with pytest.raises(BadInput, match="more than 2 pairs score above tokenize.phrase_threshold 0.001 in pass 1"):
        detect(rows, cfg, set())


def test_connector_words_are_lower_cased_and_english_is_gensims():
    assert TokenizeConfig(phrase_connectors=["Of", "the"]).connectors == {"of", "the"}
    assert {"of", "and", "the"} <= TokenizeConfig(phrase_connectors="english").connectors
    with pytest.raises(BadInput, match="phrase_connectors"):
        load_config(None, ["input.path=sample:lee", "tokenize.phrase_connectors=french"])
