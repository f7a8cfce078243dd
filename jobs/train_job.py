"""spark-submit entry point for the `train` stage alone; same arguments as `swapvec train`.

spark-submit --master spark://HOST:7077 jobs/train_job.py --config conf/local.yaml --set output.path=/data/out
"""

from swapvec.cli import entry

if __name__ == "__main__":
    entry("train")
