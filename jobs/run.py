"""spark-submit entry point for the whole pipeline; same arguments as `swapvec run`.

    spark-submit --master spark://HOST:7077 jobs/run.py --config conf/local.yaml --set output.path=/data/out

Exit codes: 0 done, 2 bad input (do not retry), 1 failure worth retrying.
"""

from swapvec.cli import entry

if __name__ == "__main__":
    entry("run")
