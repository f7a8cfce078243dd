"""spark-submit entry point for `swapvec export`: one run's vectors to a file on the driver; same arguments.

spark-submit --master spark://HOST:7077 jobs/export_job.py --config conf/local.yaml --to /data/v.bin --format word2vec

Exit codes: 0 done, 2 bad input (do not retry: no such run, an existing file without --force), 1 failure.
"""

from swapvec.cli import entry

if __name__ == "__main__":
    entry("export")
