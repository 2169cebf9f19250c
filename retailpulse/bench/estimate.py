"""On paper: what a cluster of many nodes asks of its database, scaled from the
figures measured per 1,000 images, set against what the server sustains."""

from dataclasses import dataclass

__all__ = ["Estimate", "estimate"]


@dataclass(frozen=True, slots=True)
class Estimate:
    nodes: int
    images_per_s_per_node: float
    images_per_s: float
    claims_per_s: float
    transactions_per_s: float
    rows_per_s: float
    wal_mb_per_s: float
    server_tps: float | None
    """What this machine's PostgreSQL sustains (pgbench), if measured."""

    @property
    def times_server(self) -> float | None:
        """Transactions asked for against transactions sustained: above 1 is more
        than this server does."""
        if not self.server_tps:
            return None
        return self.transactions_per_s / self.server_tps


def estimate(
    *,
    nodes: int,
    images_per_s_per_node: float,
    claims_per_1000: float,
    transactions_per_1000: float,
    rows_per_1000: float,
    wal_kib_per_1000: float,
    server_tps: float | None,
) -> Estimate:
    rate = nodes * images_per_s_per_node
    scale = rate / 1000
    return Estimate(
        nodes=nodes,
        images_per_s_per_node=images_per_s_per_node,
        images_per_s=rate,
        claims_per_s=claims_per_1000 * scale,
        transactions_per_s=transactions_per_1000 * scale,
        rows_per_s=rows_per_1000 * scale,
        wal_mb_per_s=wal_kib_per_1000 * 1024 * scale / 1e6,
        server_tps=server_tps,
    )
