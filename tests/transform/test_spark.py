"""The models on Spark: a simulated fleet landed with DuckDB, every model translated by sqlglot and run
on PySpark local[2], every mart compared with DuckDB's (EXCEPT ALL both ways)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from conftest import require
from pipelines import settings as settings_mod
from pipelines.flow import refresh
from pipelines.settings import SQL_DIR
from pipelines.transform import models, runner
from pipelines.transform.declare import Table
from pipelines.transform import spark as spark_mod

KEY = "spark-test-key-0123456789"


@pytest.fixture(scope="module")
def spark():
    """One Spark session (local[2], UTC) for the module; Java 17+ must be installed."""
    if shutil.which("java") is None:
        require("java", "PySpark needs a Java 17+ runtime (Debian: openjdk-17-jre-headless)")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("pings-models")
               .config("spark.ui.enabled", "false")
               # every model is a cached view whose analysed plan holds its whole lineage: the ~40 models
               # outgrow the default 1g driver heap (the data is tiny; the plans are not)
               .config("spark.driver.memory", "2g")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """A small simulated fleet refreshed with DuckDB; its landing tables exported as parquet."""
    from pipelines.tools.simulate import write_fleet

    base = tmp_path_factory.mktemp("spark")
    write_fleet(base / "sim", instances=60, start="2024-01-01", end="2024-09-30", seed=11, key=KEY.encode(),
                with_truth=False, bad_rate=0.01)
    cfg = settings_mod.Settings(data_dir=base / "data", ip_hash_key=KEY)
    refresh(cfg, [str(base / "sim" / "collector.csv.gz"), str(base / "sim" / "pinglog")], progress=lambda m: None)
    con = duckdb.connect(str(cfg.warehouse))
    try:
        sources = spark_mod.export_sources(con, base / "landing")
    finally:
        con.close()
    return cfg, sources, base


def _rounded(con, path) -> str:
    """Return a select list over a parquet file with doubles rounded to 9 places (engines differ in the last bits)."""
    cols = con.execute(f"describe select * from read_parquet('{path}')").fetchall()
    return ", ".join(f'round("{name}", 9) as "{name}"' if kind in ("DOUBLE", "FLOAT") else f'"{name}"'
                     for name, kind, *_ in cols)


def test_every_mart_is_the_same_on_spark_and_duckdb(spark, landed):
    cfg, sources, base = landed
    marts = spark_mod.run(spark, sources)
    assert sorted(marts) == sorted(runner.marts())
    con = duckdb.connect()
    differences, sizes = {}, {}
    for name, df in marts.items():
        out = base / "spark" / name
        df.coalesce(1).write.mode("overwrite").parquet(str(out))
        duck = f"{cfg.parquet_dir}/{name}.parquet"
        sql_duck = f"select {_rounded(con, duck)} from read_parquet('{duck}')"
        sql_spark = f"select {_rounded(con, duck)} from read_parquet('{out}/*.parquet')"
        missing = con.execute(f"select count(*) from ({sql_duck} except all {sql_spark})").fetchall()[0][0]
        extra = con.execute(f"select count(*) from ({sql_spark} except all {sql_duck})").fetchall()[0][0]
        sizes[name] = con.execute(f"select count(*) from ({sql_duck})").fetchall()[0][0]
        if missing or extra:
            differences[name] = (missing, extra)
    assert differences == {}
    # the comparison means something only when the marts hold rows
    assert sizes["instance_days"] > 1000 and sizes["version_adoption_weekly"] > 0 and sizes["quarantine"] > 0


def test_day_differences_mean_utc_days_crossed_on_both_engines(spark):
    # the known trap: Spark's datediff(day, ...) counts whole days; DuckDB counts day boundaries crossed
    sql = ("select date_diff('day', timestamp '2024-07-01 23:59:00', timestamp '2024-07-02 00:01:00') as d,"
           " date_diff('day', timestamp '2024-07-01 00:00:00', timestamp '2024-07-03 23:59:00') as e,"
           " date_diff('second', timestamp '2024-07-01 10:00:00.900', timestamp '2024-07-01 10:00:01.100') as s,"
           " date_diff('day', date '2024-07-01', date '2024-07-08') as w")
    model = models.Model("probe", "marts", SQL_DIR / "marts" / "probe.sql", sql, Table())
    assert duckdb.sql(sql).fetchall() == [(1, 2, 1, 7)]
    assert [tuple(r) for r in spark.sql(spark_mod.translate(model)).collect()] == [(1, 2, 1, 7)]


def test_a_model_with_a_spark_form_runs_that_form_on_spark(tmp_path):
    (tmp_path / "m.sql").write_text("select median(x) as m from intermediate.t")
    (tmp_path / "m.spark.sql").write_text("select percentile_approx(x, 0.5, 100000) as m from intermediate.t")
    model = models.Model("m", "marts", tmp_path / "m.sql", (tmp_path / "m.sql").read_text(), Table())
    assert spark_mod.translate(model) == "SELECT PERCENTILE_APPROX(x, 0.5, 100000) AS m FROM intermediate__t"
