"""spark-submit entry point for the `evaluate` stage alone; same arguments as `swapvec evaluate`.

spark-submit --master spark://HOST:7077 jobs/evaluate_job.py --config conf/local.yaml --set output.path=/data/out
"""

from swapvec.cli import entry

if __name__ == "__main__":
    entry("evaluate")
