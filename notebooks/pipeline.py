# Databricks notebook source
# MAGIC %md
# MAGIC # swapvec: train word vectors with your word groups
# MAGIC
# MAGIC Runs the whole pipeline (`swapvec run`): tokenise the corpus, swap-augment it with the groups, train, write
# MAGIC `vectors` and `similarities` under the output path, evaluate and write the report. The widgets are
# MAGIC `--set`-style overrides of the config file; an empty widget leaves the file's value (or the default).
# MAGIC
# MAGIC swapvec must be installed on the cluster: the bundle's job installs its wheel (`notebooks/README.md`); in an
# MAGIC interactive notebook, `%pip install` the wheel the bundle uploaded, or attach it as a cluster library.
# MAGIC Paths are read by the driver and the executors: use Unity Catalog volumes (`/Volumes/...`) or cloud URIs.
# MAGIC `explore` shows the neighbours of chosen words and the report afterwards;
# MAGIC `swapvec.load_keyedvectors(output_path)` gives the vectors as gensim KeyedVectors.

# COMMAND ----------

# spark, dbutils and display are the notebook's globals on Databricks.
# ruff: noqa: F821
import swapvec
from swapvec.config import parse_override

dbutils.widgets.text("config", "", "Config file (YAML; empty: defaults)")
dbutils.widgets.text("input_path", "", "input.path")
dbutils.widgets.text("groups_path", "", "augment.groups_path")
dbutils.widgets.text("output_path", "", "output.path")
dbutils.widgets.text("backend", "", "train.backend (gensim or mllib)")
dbutils.widgets.text("run_key", "", "run.key")
dbutils.widgets.text("more", "", "More overrides (key=value; key=value)")

# COMMAND ----------

widgets = {
    "input.path": "input_path",
    "augment.groups_path": "groups_path",
    "output.path": "output_path",
    "train.backend": "backend",
    "run.key": "run_key",
}
# A widget's text is taken as it is (a date or a number stays text); `more` is read as YAML, as --set reads it.
overrides = {key: dbutils.widgets.get(name).strip() for key, name in widgets.items()}
overrides = {key: value for key, value in overrides.items() if value}
overrides.update(parse_override(part) for part in dbutils.widgets.get("more").split(";") if part.strip())
config = dbutils.widgets.get("config").strip() or None

# COMMAND ----------

result = swapvec.run(spark, config, overrides)

# COMMAND ----------

print(f"run {result.run_id} ({result.status}): tables under {result.config.output.path}\n")
print(result.summary)
display(result.similarities)
