"""spark-submit entry point for the `similarity` stage alone; same arguments as `swapvec similarity`.

spark-submit --master spark://HOST:7077 jobs/similarity_job.py --config conf/local.yaml --set output.path=/data/out
"""

from swapvec.cli import entry

if __name__ == "__main__":
    entry("similarity")
