# The Airflow image of docker-compose.yml: the official image extended with the project's pinned
# stack and the forecasting package, which the DAGs and the plugin import.

# The package as a wheel, built where the sources may be written to (setuptools builds in-tree).
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY forecasting forecasting
COPY serving serving
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM apache/airflow:3.3.2-python3.11

# LightGBM links the system's OpenMP runtime.
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
USER airflow

# Airflow pinned to the image's own version, so a requirement can never move it.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt

# Its dependencies are the pins above.
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps /tmp/wheels/*.whl

# The image runs on its own (a worker on another machine); compose mounts the working tree over these.
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
# Mount point of the shared configuration volume, owned by the user that writes airflow.cfg there.
RUN mkdir -p /opt/airflow/config
