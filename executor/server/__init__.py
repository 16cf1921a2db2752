"""The execution server (`nodecat serve`): graphs in over HTTP, checks, runs and training out.

FastAPI on uvicorn, one APIRouter per resource: the catalogs and palettes (catalog_routes), checking
a graph (check_routes), jobs with their events and files (run_routes, over the job store and the
worker processes). The app is made by app.create_app from ServerSettings; security (the bearer
token, body limits) is one dependency for every route. A thin layer over the Python API.
"""
