"""The Spark engine: the transaction-scale stages (reading, cleaning, RFM, transaction
anomalies, product mix) on Apache Spark, with custseg's own SQL translated for Spark SQL
(:mod:`custseg.spark.sql`); only the customer table comes back to the driver for modelling.

PySpark is an optional extra: ``pip install 'custseg[spark]'``.
"""
