"""Reading a domain's TXT records, for custom-domain ownership proofs. The one place Cradle asks
DNS anything; tests replace ``txt_records``."""

from __future__ import annotations

DNS_TIMEOUT_SECONDS = 5.0


class DnsUnavailable(Exception):
    """DNS did not answer (timeout, no reachable server): try again later, not "not found"."""


def txt_records(name: str) -> list[str]:
    """The TXT strings published at ``name`` (each record's chunks joined); [] when none."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=DNS_TIMEOUT_SECONDS)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        raise DnsUnavailable(str(exc)) from exc
    return [
        b"".join(record.strings).decode("utf-8", errors="replace")  # type: ignore[attr-defined]
        for record in answer
    ]
