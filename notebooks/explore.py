# Databricks notebook source
# MAGIC %md
# MAGIC # swapvec: explore a run
# MAGIC
# MAGIC The nearest words of the words you choose, from the `similarities` table under the output path, and the
# MAGIC run's evaluation report (`report/report.html`: scores, in-group ranks, each group's neighbourhood before
# MAGIC and after). Nothing is written. Run `pipeline` (or `swapvec run`) first.

# COMMAND ----------

# spark, dbutils, display and displayHTML are the notebook's globals on Databricks.
# ruff: noqa: F821
from swapvec.config import OutputConfig
from swapvec.explore import explore

dbutils.widgets.text("output_path", "", "output.path")
dbutils.widgets.dropdown("format", "delta", ["delta", "parquet"], "output.format")
dbutils.widgets.text("words", "movies, films, cinema", 'Words (comma-separated; a phrase in quotes: "motion picture")')
dbutils.widgets.text("phrase_joiner", "_", "tokenize.phrase_joiner of the run")

# COMMAND ----------

output = OutputConfig(path=dbutils.widgets.get("output_path").strip(), format=dbutils.widgets.get("format"))
found = explore(spark, output, dbutils.widgets.get("words"), dbutils.widgets.get("phrase_joiner"))

# COMMAND ----------

# MAGIC %md ## Neighbours

# COMMAND ----------

if found.absent:
    print("not in the similarities table:", ", ".join(found.absent))
display(found.neighbours)

# COMMAND ----------

# MAGIC %md ## The evaluation report

# COMMAND ----------

displayHTML(found.report_html or "<p>No report: one is written only under a local or mounted output path.</p>")
