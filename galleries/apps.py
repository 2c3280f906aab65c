from django.apps import AppConfig


class GalleriesConfig(AppConfig):
    name = "galleries"
    verbose_name = "Galleries and deliveries"

    def ready(self) -> None:
        # Lazy: these modules import models, which load only once the app registry is ready.
        from billing.selectors import galleries_delivered_counter_set
        from galleries.selectors import galleries_delivered_count, gallery_brand_snapshot_for_job
        from galleries.services.erasure import parent_session_erase
        from galleries.services.sending import deliveries_cancel_unsent
        from galleries.views import job_page_part
        from render.print_size import sent_brand_snapshot_reader_set
        from render.services import deliveries_canceller_set, parent_session_eraser_set
        from render.views import job_page_part_add

        # Galleries sits above billing and render: it hands them what they show or cap.
        galleries_delivered_counter_set(galleries_delivered_count)
        deliveries_canceller_set(lambda job: deliveries_cancel_unsent(job=job))
        job_page_part_add(job_page_part)
        sent_brand_snapshot_reader_set(gallery_brand_snapshot_for_job)
        parent_session_eraser_set(parent_session_erase)
