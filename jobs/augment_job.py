"""spark-submit entry point for the `augment` stage alone; same arguments as `swapvec augment`.

spark-submit --master spark://HOST:7077 jobs/augment_job.py --config conf/local.yaml --set output.path=/data/out
"""

from swapvec.cli import entry

if __name__ == "__main__":
    entry("augment")
