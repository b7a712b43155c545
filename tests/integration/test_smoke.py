from flask.testing import FlaskClient

from tests.support.api import create


def test_create_then_read_back(client: FlaskClient) -> None:
    created = create(client, tags=["latency"])
    response = client.get(f"/api/v1/incidents/{created['id']}")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.json == created
