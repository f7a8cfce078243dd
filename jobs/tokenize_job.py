"""spark-submit entry point for the `tokenize` stage alone; same arguments as `swapvec tokenize`.

spark-submit --master spark://HOST:7077 jobs/tokenize_job.py --config conf/local.yaml --set output.path=/data/out
"""

from swapvec.cli import entry

if __name__ == "__main__":
    entry("tokenize")
