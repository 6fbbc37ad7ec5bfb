"""What Schemathesis cannot guess from the OpenAPI document alone: the
formats of Questline's expression and time-zone fields, and the window an
event's time must fall in. Each strategy draws
values the services accept, so a schema-valid request is a valid one."""

from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

# CEL over `event` and `member`, as rules and segments take it.
schemathesis.openapi.format(
    "questline-cel-condition",
    st.sampled_from(["", "true", "event.amount > 0.0", "event.amount >= 10.0 && event.store == \"paris-01\""]),
)
schemathesis.openapi.format(
    "questline-cel-points",
    st.sampled_from(["5", "event.amount / 10.0", "event.amount * 2.0"]),
)
schemathesis.openapi.format(
    "questline-cel-predicate",
    st.sampled_from(["true", "member.country == \"SG\"", "has(member.attributes.tier)"]),
)
# IANA zone names (the services check them against their time zone database).
schemathesis.openapi.format(
    "iana-time-zone",
    st.sampled_from(["", "UTC", "Europe/Paris", "Asia/Singapore", "America/New_York"]),
)
# Instants within the engine's event window: at most 7 days back (the
# lateness window) and 5 minutes ahead, so a schema-valid event is accepted.
schemathesis.openapi.format(
    "date-time",
    st.integers(min_value=-6 * 24 * 3600, max_value=240).map(
        lambda offset: (datetime.now(timezone.utc) + timedelta(seconds=offset)).isoformat()
    ),
)
