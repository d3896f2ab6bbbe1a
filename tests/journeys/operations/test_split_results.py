"""A/B results per split and variant: every journey entry assigned counts once, every goal reached counts for the variants the customer was in, and other journeys stay out."""

from __future__ import annotations

from journeys.operations.split_results import SplitResults, VariantResult, split_results
from journeys.storage.database import Database
from journeys.storage.tables import ConversionRow, SplitAssignmentRow, utcnow


async def assign(db: Database, journey: str, customer: str, variants: dict[str, str], entry: str = "e1") -> None:
    """The customer entered the journey (entry ``entry``) and got these variants, one per split."""
    async with db.session() as session:
        for split, variant in variants.items():
            session.add(
                SplitAssignmentRow(
                    journey=journey, customer_id=customer, entry_id=f"{customer}-{entry}", split=split, variant=variant,
                    assigned_at=utcnow(),
                )
            )
        await session.commit()


async def convert(
    db: Database, journey: str, customer: str, goal: str, variants: dict[str, str], entry: str = "e1"
) -> None:
    """The customer reached ``goal`` in that entry, while in these variants."""
    async with db.session() as session:
        session.add(
            ConversionRow(
                journey=journey, customer_id=customer, entry_id=f"{customer}-{entry}", goal=goal,
                event_id=f"{customer}-{entry}-{goal}", variants=variants, converted_at=utcnow(),
            )
        )
        await session.commit()


async def test_a_journey_nobody_entered_has_no_results(db: Database) -> None:
    await assign(db, "other", "ann", {"email": "a"})
    assert await split_results(db, "promo") == SplitResults(journey="promo", splits={})


async def test_entries_are_counted_per_variant(db: Database) -> None:
    for customer, variant in [("c1", "a"), ("c2", "a"), ("c3", "b"), ("c4", "a"), ("c5", "control")]:
        await assign(db, "promo", customer, {"email": variant})
    results = await split_results(db, "promo")
    assert {variant: r.entries for variant, r in results.splits["email"].items()} == {"a": 3, "b": 1, "control": 1}
    assert all(r.conversions == {} for r in results.splits["email"].values()), "nobody converted yet"


async def test_each_split_of_a_journey_has_results_of_its_own(db: Database) -> None:
    await assign(db, "promo", "c1", {"email": "a", "subject": "short"})
    await assign(db, "promo", "c2", {"email": "b", "subject": "short"})
    await assign(db, "promo", "c3", {"email": "b", "subject": "long"})
    results = await split_results(db, "promo")
    assert {split: {v: r.entries for v, r in variants.items()} for split, variants in results.splits.items()} == {
        "email": {"a": 1, "b": 2},
        "subject": {"short": 2, "long": 1},
    }


async def test_a_customer_who_entered_twice_counts_as_two_entries(db: Database) -> None:
    await assign(db, "promo", "ann", {"email": "a"}, entry="e1")
    await assign(db, "promo", "ann", {"email": "a"}, entry="e2")
    await assign(db, "promo", "bob", {"email": "b"})
    results = await split_results(db, "promo")
    assert results.splits["email"]["a"].entries == 2 and results.splits["email"]["b"].entries == 1


async def test_conversions_are_counted_per_goal_and_variant(db: Database) -> None:
    for customer, variant in [("c1", "a"), ("c2", "a"), ("c3", "a"), ("c4", "b"), ("c5", "b")]:
        await assign(db, "promo", customer, {"email": variant})
    await convert(db, "promo", "c1", "promo.bought", {"email": "a"})
    await convert(db, "promo", "c1", "promo.reviewed", {"email": "a"})
    await convert(db, "promo", "c2", "promo.bought", {"email": "a"})
    await convert(db, "promo", "c4", "promo.reviewed", {"email": "b"})

    results = await split_results(db, "promo")
    assert results.splits["email"] == {
        "a": VariantResult(entries=3, conversions={"promo.bought": 2, "promo.reviewed": 1}),
        "b": VariantResult(entries=2, conversions={"promo.reviewed": 1}),
    }


async def test_a_conversion_counts_for_every_split_the_customer_was_in(db: Database) -> None:
    await assign(db, "promo", "ann", {"email": "b", "subject": "long"})
    await assign(db, "promo", "bob", {"email": "a", "subject": "long"})
    await convert(db, "promo", "ann", "promo.bought", {"email": "b", "subject": "long"})
    results = await split_results(db, "promo")
    assert results.splits["email"]["b"].conversions == {"promo.bought": 1}
    assert results.splits["email"]["a"].conversions == {}
    assert results.splits["subject"]["long"] == VariantResult(entries=2, conversions={"promo.bought": 1})


async def test_the_same_goal_reached_in_two_entries_counts_twice(db: Database) -> None:
    await assign(db, "promo", "ann", {"email": "a"}, entry="e1")
    await assign(db, "promo", "ann", {"email": "a"}, entry="e2")
    await convert(db, "promo", "ann", "promo.bought", {"email": "a"}, entry="e1")
    await convert(db, "promo", "ann", "promo.bought", {"email": "a"}, entry="e2")
    results = await split_results(db, "promo")
    assert results.splits["email"]["a"] == VariantResult(entries=2, conversions={"promo.bought": 2})


async def test_a_conversion_outside_any_split_counts_for_no_variant(db: Database) -> None:
    await assign(db, "promo", "ann", {"email": "a"})
    await convert(db, "promo", "bob", "promo.bought", {})  # bob entered before the split existed
    results = await split_results(db, "promo")
    assert results.splits == {"email": {"a": VariantResult(entries=1)}}


async def test_other_journeys_are_not_mixed_in(db: Database) -> None:
    await assign(db, "promo", "ann", {"email": "a"})
    await convert(db, "promo", "ann", "promo.bought", {"email": "a"})
    # The same split and variant names in another journey, and a journey whose name starts alike.
    for journey in ("winback", "promo_v2"):
        await assign(db, journey, "bob", {"email": "a", "subject": "long"})
        await assign(db, journey, "cat", {"email": "a"})
        await convert(db, journey, "bob", "promo.bought", {"email": "a", "subject": "long"})

    results = await split_results(db, "promo")
    assert results.journey == "promo"
    assert results.splits == {"email": {"a": VariantResult(entries=1, conversions={"promo.bought": 1})}}
    winback = await split_results(db, "winback")
    assert winback.splits["email"]["a"] == VariantResult(entries=2, conversions={"promo.bought": 1})


async def test_the_results_read_as_plain_data(db: Database) -> None:
    await assign(db, "promo", "ann", {"email": "a"})
    await assign(db, "promo", "bob", {"email": "b"})
    await convert(db, "promo", "bob", "promo.bought", {"email": "b"})
    assert (await split_results(db, "promo")).model_dump(mode="json") == {
        "journey": "promo",
        "splits": {
            "email": {
                "a": {"entries": 1, "conversions": {}},
                "b": {"entries": 1, "conversions": {"promo.bought": 1}},
            }
        },
    }
