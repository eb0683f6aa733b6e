"""The REST API server: an ASGI app (FastAPI) serving Apache Airflow 3's public REST API
under ``/api/v2`` and its token endpoint under ``/auth``, so that the official
``apache-airflow-client`` (and scripts written for Airflow) can drive downwind.

- :mod:`downwind.api.app`: :func:`~downwind.api.app.create_app`, middleware and routers.
- :mod:`downwind.api.deps`: the request's session, the signed-in user, the permission check.
- :mod:`downwind.api.routes`: one module per resource, thin handlers over the services.
- :mod:`downwind.api.schemas`: request and response models with Airflow's field names.
- :mod:`downwind.api.server`: run it with uvicorn (``downwind api-server``).

Nothing here is imported by ``import downwind``: FastAPI is loaded only by the server.
"""
