"""The Spark job of examples/guide_service.rs: a few small jobs in local mode
on a Spark UI at a port the caller chooses (so that the caller's monitor
knows where to read), then exits.

    python guide_spark_job.py --ui-port PORT [--app-name NAME] [--seconds S] [--event-log-dir DIR]

Only loopback: the driver and its UI bind 127.0.0.1.
"""
import argparse
import time

from pyspark.sql import SparkSession


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ui-port", type=int, required=True)
    p.add_argument("--app-name", default="guide-spark-job")
    p.add_argument("--seconds", type=float, default=0.2, help="how long each task of the slow job sleeps")
    p.add_argument("--event-log-dir", help="write Spark's event log there (the monitor's final read)")
    args = p.parse_args()

    spark = (
        SparkSession.builder.master("local[1]")
        .appName(args.app_name)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.port", str(args.ui_port))
        .config("spark.port.maxRetries", "0")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
    )
    if args.event_log_dir:
        spark = spark.config("spark.eventLog.enabled", "true").config("spark.eventLog.dir", "file://" + args.event_log_dir)
    spark = (
        spark.getOrCreate()
    )
    sc = spark.sparkContext
    sc.setLogLevel("FATAL")
    sc.setJobGroup("aggregate", "sum the batch per key")
    sc.parallelize(range(1000), 2).map(lambda x: (x % 10, x)).reduceByKey(lambda a, b: a + b).collect()

    seconds = args.seconds

    def slow(x):
        time.sleep(seconds)
        return x

    sc.setJobGroup("enrich", "a job that takes a while")
    sc.parallelize(range(2), 1).map(slow).count()
    spark.stop()


if __name__ == "__main__":
    main()
