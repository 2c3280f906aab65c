from branding.models import BrandKit


def brand_kit_get() -> BrandKit:
    """The current schema's brand kit, created with defaults on first use."""
    kit, _ = BrandKit.objects.get_or_create(pk=1)
    return kit
