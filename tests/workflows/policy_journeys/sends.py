from datetime import timedelta

from temporalio import workflow

from workflows.engine import Event, Journey, journey

with workflow.unsafe.imports_passed_through():
    from journeys.contracts.activity_io import DELIVER, DeliverInput, DeliverResult


@journey(trigger="promo.due", reentry="always", key="promo_id")
class Promo(Journey):
    async def steps(self, event: Event) -> None:
        await self.send("promo", context={"promo": event.properties})


@journey(trigger="patient_promo.due", reentry="always", key="promo_id")
class PatientPromo(Journey):
    if_capped = "wait"

    async def steps(self, event: Event) -> None:
        await self.send("promo")


@journey(trigger="order.placed", reentry="always", key="order_id")
class Receipt(Journey):
    async def steps(self, event: Event) -> None:
        await self.send("receipt")


@journey(trigger="newsletter.joined")
class Newsletter(Journey):
    async def steps(self, event: Event) -> None:
        await self.send("news")
        await self.sleep(timedelta(days=2))
        await self.send("news")


@journey(trigger="flash_sale.started", exit_on="flash_sale.ended")
class FlashSale(Journey):
    async def steps(self, event: Event) -> None:
        await self.send("promo")


@journey(trigger="rogue.due")
class Rogue(Journey):
    """Calls the delivery activity itself, past Journey.send: the policy still applies."""

    async def steps(self, event: Event) -> None:
        result = await workflow.execute_activity(
            DELIVER,
            DeliverInput(idempotency_key=f"rogue/{event.id}", customer_id=event.customer_id, template="promo"),
            result_type=DeliverResult,
            start_to_close_timeout=timedelta(seconds=30),
        )
        self.state["status"] = result.status
