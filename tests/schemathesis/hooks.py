"""What Schemathesis cannot guess from the OpenAPI document alone: the
formats of Questline's expression and time-zone fields. Each strategy draws
values the services accept, so a schema-valid request is a valid one."""

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
