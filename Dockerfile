# syntax=docker/dockerfile:1
# One image for Airflow (API server, scheduler, DAG processor, triggerer) and the Spark cluster
# (master, CPU workers). Target `gpu` (docker compose builds it for the GPU worker) swaps
# tensorflow-cpu for the CUDA build of the same release (requirements-gpu.txt).
#
#   docker build -t landshift:latest .                 # CPU image (the last stage)
#   docker build --target gpu -t landshift-gpu:latest .
#
# It is set up exactly as `make venv`: Java 17 for Spark, requirements.txt, then the pinned pyspark
# put back over the files the Spark provider's pyspark-client overwrote, then the library itself.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS base
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java
ENV JAVA_HOME=/opt/java \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /opt/landshift
COPY requirements.txt requirements-gpu.txt ./
# psycopg2 and asyncpg talk to the Postgres metadatabase (pins as in requirements-dev.txt, which
# the cluster test runs with); pyspark is re-pinned as the Makefile does.
RUN pip install -r requirements.txt psycopg2-binary==2.9.13 asyncpg==0.32.0 \
    && PYSPARK_PIN="$(sed -n 's/^pyspark==//p' requirements.txt)" \
    && pip install --force-reinstall --no-deps "pyspark==${PYSPARK_PIN}" \
    && python -c "import pyspark, sys; sys.exit(pyspark.__version__ != '${PYSPARK_PIN}')" \
    && ln -s "$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" /opt/spark
COPY pyproject.toml README.md ./
COPY include ./include
COPY plugins ./plugins
COPY dags ./dags
COPY jobs ./jobs
RUN pip install --no-deps . \
    && useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home landshift \
    && mkdir -p /opt/airflow/logs /lake && chown -R 50000:0 /opt/airflow /lake
# include/ and plugins/ first on the path, as the Makefile's PYTHONPATH; Spark from the pinned pyspark.
ENV PYTHONPATH=/opt/landshift/plugins:/opt/landshift/include \
    AIRFLOW_HOME=/opt/airflow \
    SPARK_HOME=/opt/spark \
    PATH=/opt/spark/bin:/opt/spark/sbin:${PATH} \
    PYSPARK_PYTHON=/usr/local/bin/python \
    LANDSHIFT_SPARK_PYTHON=/usr/local/bin/python
USER 50000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]

FROM base AS gpu
USER root
RUN pip uninstall -y tensorflow-cpu && pip install -r requirements-gpu.txt \
    && python -c "import keras, tensorflow; print(tensorflow.__version__, keras.__version__)"
USER 50000

# The default target: the CPU image every Airflow service and CPU worker runs.
FROM base AS cpu
