"""Bad input: a clear one-line BadInput, and the tables an earlier run wrote are untouched."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from swapvec.config import TokenizeConfig
from swapvec.errors import BadInput
from swapvec.pipeline import execute
from swapvec.tokenize import tokenize


@pytest.fixture(scope="module")
def earlier(spark, tmp_path_factory):
    """A good run's output, whose tables every bad run below must leave as they were."""
    root = tmp_path_factory.mktemp("earlier")
    corpus = root / "corpus.txt"
    corpus.write_text("entertainment films movies cinema\nentertainment movies\n" * 40)
    groups = root / "groups.txt"
    groups.write_text("entertainment: movies films cinema\n")
    base = [f"output.path={root / 'out'}", "train.min_count=1", "train.backend=mllib", "train.epochs=1"]
    from swapvec.config import load_config

    execute(spark, load_config(None, [f"input.path={corpus}", f"augment.groups_path={groups}", *base]), "run")
    return root, base


def _versions(root) -> dict[str, int]:
    return {t: DeltaTable(str(root / "out" / t)).version() for t in ("vectors", "similarities")}


def _refused(spark, earlier, *overrides: str, match: str) -> None:
    from swapvec.config import load_config

    root, base = earlier
    before = _versions(root)
    with pytest.raises(BadInput, match=match) as caught:
        execute(spark, load_config(None, [*base, *overrides]), "run")
    assert "\n" not in str(caught.value)
    assert _versions(root) == before
    assert DeltaTable(str(root / "out" / "vectors")).to_pyarrow_table().num_rows == 4


def test_empty_corpus(spark, earlier, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    _refused(spark, earlier, f"input.path={tmp_path / 'empty.txt'}", match="has no tokens")


def test_corpus_without_words(spark, earlier, tmp_path):
    (tmp_path / "punct.txt").write_text("... !!! ???\n--\n")
    _refused(spark, earlier, f"input.path={tmp_path / 'punct.txt'}", match="has no tokens")


def test_a_corpus_without_spaces_between_words_is_refused_as_such(spark, earlier, tmp_path):
    (tmp_path / "zh.txt").write_text("我喜欢看电影，她喜欢看书。\n他们在电影院看电影。\n" * 20, encoding="utf-8")
    _refused(spark, earlier, f"input.path={tmp_path / 'zh.txt'}", match="has no spaces between words")


def test_missing_path(spark, earlier, tmp_path):
    _refused(spark, earlier, f"input.path={tmp_path / 'nope'}", match="input.path does not exist")


def test_no_group_word_in_the_corpus(spark, earlier, tmp_path):
    (tmp_path / "c.txt").write_text("the cat sat on the mat\n" * 10)
    (tmp_path / "g.txt").write_text("movies films\n")
    _refused(
        spark,
        earlier,
        f"input.path={tmp_path / 'c.txt'}",
        f"augment.groups_path={tmp_path / 'g.txt'}",
        match="no word of .* occurs in the corpus",
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [(": a b\n", "empty hub"), ("a b a\n", "'a' is twice on that line"), ("solo\n", "at least two words")],
)
def test_bad_groups_files(spark, earlier, tmp_path, text, match):
    (tmp_path / "c.txt").write_text("a b c\n" * 10)
    (tmp_path / "g.txt").write_text(text)
    _refused(
        spark, earlier, f"input.path={tmp_path / 'c.txt'}", f"augment.groups_path={tmp_path / 'g.txt'}", match=match
    )


def test_top_k_set_above_the_vocabulary_is_refused_before_training(spark, earlier, tmp_path, monkeypatch):
    import swapvec.train.mllib

    def trains(*args, **kwargs):
        raise AssertionError("trained before refusing similarity.top_k")  # it was refused after the training

    monkeypatch.setattr(swapvec.train.mllib, "train_mllib", trains)
    (tmp_path / "c.txt").write_text("a b c\n" * 10)
    _refused(spark, earlier, f"input.path={tmp_path / 'c.txt'}", "similarity.top_k=5", match="must be below")


def test_a_similarity_words_file_that_is_not_there_is_refused_before_spark(earlier):
    from swapvec.config import load_config
    from swapvec.pipeline import preflight

    root, base = earlier
    cfg = load_config(None, [*base, f"input.path={root / 'corpus.txt'}", f"similarity.words={root / 'nofile.txt'}"])
    with pytest.raises(BadInput, match="similarity.words: file not found"):
        preflight(cfg, "run")


def test_output_path_that_is_a_file(spark, earlier, tmp_path):
    (tmp_path / "c.txt").write_text("a b c\n")
    from swapvec.config import load_config

    with pytest.raises(BadInput, match="is a file, not a folder"):
        execute(spark, load_config(None, [f"input.path={tmp_path / 'c.txt'}", f"output.path={tmp_path / 'c.txt'}"]))


@pytest.mark.parametrize("backend", ["gensim", "mllib"])
def test_vocabulary_too_large_for_the_driver_is_refused_with_the_numbers(spark, earlier, tmp_path, backend):
    # 40,000 distinct words x 4096 dims does not fit the suite's 2 GiB driver, whatever the backend (each holds about
    # 10 copies of the float32 weights). bench/scale_checks.py refuses 60,000 words on a 4 GiB driver the same way.
    words = [f"w{i}" for i in range(40_000)]
    (tmp_path / "big.txt").write_text("\n".join(" ".join(words[i : i + 100]) for i in range(0, len(words), 100)))
    _refused(
        spark,
        earlier,
        f"input.path={tmp_path / 'big.txt'}",
        "train.vector_size=4096",
        f"train.backend={backend}",
        match=r"vocabulary too large for the driver: 40,000 words x 4096 dims needs \d+\.\d GiB",
    )


def test_bytes_that_are_not_utf8_are_replaced_and_split_tokens(spark, tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café crème entertainment\n".encode("latin-1") + b"\xff\xfe\x00binary\n")
    df = spark.read.text(str(tmp_path / "latin1.txt")).withColumnRenamed("value", "text")
    rows = [r.tokens for r in tokenize(df, TokenizeConfig()).orderBy("sentence_id").collect()]
    assert rows == [["caf", "cr", "me", "entertainment"], ["binary"]]


def test_a_long_line_is_split_into_ordered_chunks_and_nothing_is_lost(spark, tmp_path):
    # 25,003 tokens in chunks of 1000: 25 full chunks and one of 3. A 20 MB and a 100 MB line: bench/scale_checks.py.
    words = [f"w{i}" for i in range(25_003)]
    (tmp_path / "long.txt").write_text(" ".join(words) + "\nshort line\n")
    df = spark.read.text(str(tmp_path / "long.txt")).withColumnRenamed("value", "text")
    rows = tokenize(df, TokenizeConfig()).orderBy("sentence_id", "chunk").collect()
    long = [r for r in rows if r.sentence_id == rows[0].sentence_id]
    assert [r.chunk for r in long] == list(range(26))
    assert [len(r.tokens) for r in long] == [1000] * 25 + [3]
    assert [t for r in long for t in r.tokens] == words
    assert [(r.chunk, r.tokens) for r in rows[26:]] == [(0, ["short", "line"])]


# ----------------------------------------------------------------------- refused by preflight, before Spark starts
def _preflight(tmp_path, *overrides: str) -> None:
    from swapvec.config import load_config
    from swapvec.pipeline import preflight

    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("entertainment films movies cinema\n")
    preflight(load_config(None, [f"input.path={corpus}", f"output.path={tmp_path / 'out'}", *overrides]), "run")


def test_a_folder_or_an_empty_file_as_the_groups_file_is_refused_before_spark(tmp_path):
    (tmp_path / "groups").mkdir()
    with pytest.raises(BadInput, match="groups is a folder, not a groups file"):
        _preflight(tmp_path, f"augment.groups_path={tmp_path / 'groups'}")
    (tmp_path / "empty.txt").write_text("# nothing yet\n\n")
    with pytest.raises(BadInput, match="empty.txt holds no groups"):
        _preflight(tmp_path, f"augment.groups_path={tmp_path / 'empty.txt'}")


def test_a_byte_order_mark_before_a_comment_is_not_a_group(tmp_path):
    groups = tmp_path / "groups.txt"
    groups.write_bytes("\ufeff# saved by Notepad\nfilms movies\n".encode())
    _preflight(tmp_path, f"augment.groups_path={groups}")  # no "a group needs at least two words"


def test_an_output_path_that_cannot_be_written_is_refused_before_spark(tmp_path):
    # /proc takes no new files, not even from root (for whom access(2) says yes to almost anything).
    with pytest.raises(BadInput, match="output.path /proc/swapvec-out: cannot write in /proc"):
        _preflight(tmp_path, "output.path=/proc/swapvec-out")


def test_the_corpus_folder_as_output_path_is_refused(tmp_path):
    corpus = tmp_path / "texts"
    corpus.mkdir()
    (corpus / "a.txt").write_text("films movies\n")
    for out in (corpus, corpus / "out"):
        with pytest.raises(BadInput, match="is input.path .* or inside it"):
            _preflight(tmp_path, f"input.path={corpus}", f"output.path={out}")
    _preflight(tmp_path, f"input.path={corpus}", f"output.path={tmp_path / 'out'}")  # beside it is fine


@pytest.mark.parametrize("key", ["input.path", "output.path"])
def test_a_path_spark_would_read_as_a_file_pattern_is_refused_naming_the_characters(tmp_path, key):
    corpus = tmp_path / "corpus [1].txt"
    corpus.write_text("films movies\n")
    setting = f"input.path={corpus}" if key == "input.path" else f"output.path={tmp_path / 'out [2]'}"
    with pytest.raises(BadInput, match=rf"^{key} .* holds \[ \], which Spark reads as a file pattern"):
        _preflight(tmp_path, setting)


def test_a_group_word_the_tokeniser_rewrites_is_refused_with_its_line(spark, earlier, tmp_path):
    root, base = earlier
    groups = tmp_path / "groups.txt"
    groups.write_text("entertainment: movies films\nc++ java\n")
    from swapvec.config import load_config

    cfg = load_config(None, [f"input.path={root / 'corpus.txt'}", f"augment.groups_path={groups}", *base])
    before = _versions(root)
    with pytest.raises(BadInput, match=r"groups.txt:2: 'c\+\+' is 'c' under tokenize.pattern; a group word must be"):
        execute(spark, cfg, "run")
    assert _versions(root) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("films movies\nanimal: dog cat horse: pony\n", r"groups.txt:2: a second ':'"),
        ("films movies\nanimal, dog, cat\n", r"groups.txt:2: 'animal,' is 'animal' under tokenize.pattern; .* commas"),
        ("films movies\nSoap-opera drama\n", r"groups.txt:2: 'Soap-opera' is 2 tokens \['soap', 'opera'\]"),
        ("films movies\ncinema: Films screen\n", r"groups.txt:2: 'films' is also on line 1; a word belongs to one"),
    ],
)
def test_a_malformed_groups_line_is_refused_with_its_number_before_spark(tmp_path, text, message):
    groups = tmp_path / "groups.txt"
    groups.write_text(text)
    with pytest.raises(BadInput, match=message):
        _preflight(tmp_path, f"augment.groups_path={groups}")


def test_words_the_default_tokeniser_keeps_whole_pass_before_spark(tmp_path):
    groups = tmp_path / "groups.txt"
    groups.write_text("don't never\nnaïve 3d rock'n'roll\n")
    _preflight(tmp_path, f"augment.groups_path={groups}")


def test_a_parquet_input_without_a_string_column_says_so(spark, earlier, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"n": [1, 2, 3]}), tmp_path / "numbers.parquet")
    # It asked for input.column, which cannot help.
    _refused(spark, earlier, f"input.path={tmp_path / 'numbers.parquet'}", match="has no string column to read")
