"""OpenLineage events for every run and every flow, through ``openlineage-python``.

A run is one OpenLineage job (``<pipeline>``) and each flow a job of its own
(``<pipeline>.<layer>.<table>``) whose run has the pipeline's run as parent. Datasets are
the lake's tables: namespace the lake URI, name ``layer.table``. A finished flow's output
carries the ``schema``, ``columnLineage``, ``dataQualityAssertions`` (one per expectation,
passed or not), ``documentation``, ``ownership`` and ``outputStatistics`` facets.

Delivery never fails a run: an event that cannot be sent is retried by the transport,
then counted as undelivered, and after a few failures in a row the emitter stops trying
for the rest of the process (a dead endpoint must not slow every flow down).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    documentation_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    ownership_dataset,
    parent_run,
    schema_dataset,
)

from shoplake.engines.base import Engine
from shoplake.governance.lineage import LineageCache
from shoplake.governance.settings import LineageSettings
from shoplake.pipeline.graph import Graph
from shoplake.pipeline.metadata import owner_of
from shoplake.pipeline.results import FlowResult, RunResult

PRODUCER = "https://github.com/shoplake/shoplake"
GIVE_UP_AFTER = 3
"""Failed deliveries in a row after which the emitter stops sending."""


def run_uuid(run_id: str, ref: str = "") -> str:
    """A stable UUID for a shoplake run (or one flow of it): OpenLineage wants UUIDs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"shoplake:{run_id}:{ref}"))


def lake_namespace(lake: str) -> str:
    """The datasets' namespace: the lake's URI (``file:///abs/path`` for a folder)."""
    if "://" in lake:
        return lake.rstrip("/")
    from pathlib import Path

    return Path(lake).resolve().as_uri()


class LineageEmitter:
    """A run listener (``RunListener``) sending OpenLineage events through ``client``.

    Example::

        settings = LineageSettings(transport="http", url="http://localhost:5000")
        emitter = LineageEmitter.from_settings(engine, pipeline.name, settings)
        shoplake.run(pipeline, engine=engine, landing="./landing", listener=emitter)
        emitter.undelivered   # events that could not be sent
    """

    def __init__(
        self, engine: Engine, pipeline: str, client: OpenLineageClient, *, namespace: str
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.client = client
        self.namespace = namespace
        self.dataset_namespace = lake_namespace(engine.lake)
        self.sent = 0
        self.undelivered = 0
        self.last_error = ""
        self._failures_in_a_row = 0
        self._lock = threading.Lock()
        self._graph: Graph | None = None
        self._lineage = LineageCache()

    @classmethod
    def from_settings(
        cls, engine: Engine, pipeline: str, settings: LineageSettings
    ) -> LineageEmitter:
        return cls(engine, pipeline, settings.client(), namespace=settings.namespace)

    # -- sending ------------------------------------------------------------------------
    def _emit(self, event: RunEvent) -> None:
        with self._lock:
            if self._failures_in_a_row >= GIVE_UP_AFTER:
                self.undelivered += 1
                return
            try:
                self.client.emit(event)
            except Exception as err:  # a dead endpoint never fails a run
                self.undelivered += 1
                self._failures_in_a_row += 1
                self.last_error = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
                return
            self.sent += 1
            self._failures_in_a_row = 0

    def _job(self, name: str, kind: str) -> Job:
        facet = job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="SHOPLAKE", jobType=kind, producer=PRODUCER
        )
        return Job(namespace=self.namespace, name=name, facets={"jobType": facet})

    def _parent(self, run_id: str) -> parent_run.ParentRunFacet:
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_uuid(run_id)),
            job=parent_run.Job(namespace=self.namespace, name=self.pipeline),
            producer=PRODUCER,
        )

    def _event(
        self,
        state: RunState,
        when: datetime,
        run: Run,
        job: Job,
        inputs: Sequence[InputDataset] = (),
        outputs: Sequence[OutputDataset] = (),
    ) -> RunEvent:
        return RunEvent(
            eventType=state,
            eventTime=when.isoformat() + ("Z" if when.tzinfo is None else ""),
            run=run,
            job=job,
            producer=PRODUCER,
            inputs=list(inputs),
            outputs=list(outputs),
        )

    # -- the listener -------------------------------------------------------------------
    def run_started(
        self, run_id: str, refs: Sequence[str], graph: Graph, started: datetime
    ) -> None:
        self._graph = graph
        run = Run(runId=run_uuid(run_id))
        self._emit(self._event(RunState.START, started, run, self._job(self.pipeline, "DAG")))

    def run_finished(self, run: RunResult, ended: datetime) -> None:
        state = RunState.FAIL if run.status == "failed" else RunState.COMPLETE
        facets: dict[str, Any] = {}
        if state == RunState.FAIL:
            failed = [f"{f.table}: {f.message}" for f in run.flows if f.status == "failed"]
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message="; ".join(failed)[:2000], programmingLanguage="python", producer=PRODUCER
            )
        job = self._job(self.pipeline, "DAG")
        self._emit(self._event(state, ended, Run(runId=run_uuid(run.run_id), facets=facets), job))

    def _flow_run(self, run_id: str, ref: str, facets: dict[str, Any] | None = None) -> Run:
        return Run(
            runId=run_uuid(run_id, ref),
            facets={"parent": self._parent(run_id), **(facets or {})},
        )

    def _inputs(self, ref: str) -> list[InputDataset]:
        if self._graph is None or ref not in self._graph.definitions:
            return []
        return [
            InputDataset(namespace=self.dataset_namespace, name=src)
            for src in sorted(self._graph.upstream(ref))
        ]

    def flow_started(self, run_id: str, ref: str) -> None:
        from shoplake.names import utcnow

        job = self._job(f"{self.pipeline}.{ref}", "TABLE")
        event = self._event(
            RunState.START, utcnow(), self._flow_run(run_id, ref), job, self._inputs(ref)
        )
        self._emit(event)

    def flow_finished(self, run_id: str, result: FlowResult) -> None:
        from shoplake.names import utcnow

        ref = result.table
        facets: dict[str, Any] = {}
        if result.status == "failed":
            state = RunState.FAIL
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=result.message[:2000], programmingLanguage="python", producer=PRODUCER
            )
        elif result.status == "skipped" and result.message.startswith("upstream failed"):
            state = RunState.ABORT
        else:
            state = RunState.COMPLETE
        # A flow that had nothing new wrote nothing: no output dataset, no facets to derive.
        outputs = [self._output(ref, result)] if result.status == "completed" else []
        job = self._job(f"{self.pipeline}.{ref}", "TABLE")
        run = self._flow_run(run_id, ref, facets)
        self._emit(self._event(state, utcnow(), run, job, self._inputs(ref), outputs))

    # -- facets -------------------------------------------------------------------------
    def _output(self, ref: str, result: FlowResult) -> OutputDataset:
        facets: dict[str, Any] = {}
        stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=result.rows_written, producer=PRODUCER
        )
        if self.engine.version(ref) is not None:
            facets["schema"] = self._schema(ref)
            meta = self.engine.metadata(ref)
            if meta is not None and meta.description:
                facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                    description=meta.description, producer=PRODUCER
                )
            if meta is not None and owner_of(meta):
                facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
                    owners=[ownership_dataset.Owner(name=owner_of(meta), type="TEAM")],
                    producer=PRODUCER,
                )
            lineage = self._column_lineage(ref)
            if lineage is not None:
                facets["columnLineage"] = lineage
        if result.rules:
            facets["dataQualityAssertions"] = self._assertions(result)
        return OutputDataset(
            namespace=self.dataset_namespace,
            name=ref,
            facets=facets,
            outputFacets={"outputStatistics": stats},
        )

    def _schema(self, ref: str) -> schema_dataset.SchemaDatasetFacet:
        meta = self.engine.metadata(ref)
        comments = {} if meta is None else meta.columns
        fields = [
            schema_dataset.SchemaDatasetFacetFields(
                name=name,
                type=str(dtype),
                description=comments.get(name, {}).get("comment") or None,
            )
            for name, dtype in self.engine.read(ref).collect_schema().items()
        ]
        return schema_dataset.SchemaDatasetFacet(fields=fields, producer=PRODUCER)

    def _column_lineage(self, ref: str) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
        if self._graph is None:
            return None
        found = self._lineage.get(self.engine, self._graph, ref)
        if not found:
            return None
        fields = {}
        for column, lineage in found.items():
            inputs = []
            for source in lineage.inputs:
                table, _, field = source.rpartition(".")
                inputs.append(
                    column_lineage_dataset.InputField(
                        namespace=self.dataset_namespace, name=table, field=field
                    )
                )
            fields[column] = column_lineage_dataset.Fields(
                inputFields=inputs, transformationDescription=lineage.source
            )
        return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields, producer=PRODUCER)

    @staticmethod
    def _assertions(
        result: FlowResult,
    ) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
        assertions = [
            data_quality_assertions_dataset.Assertion(
                assertion=rule.name,
                success=rule.failed == 0,
                severity="error" if rule.action == "fail" else "warn",
                actual=f"{rule.failed} of {rule.passed + rule.failed} rows failed",
            )
            for rule in result.rules
        ]
        return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=assertions, producer=PRODUCER
        )
