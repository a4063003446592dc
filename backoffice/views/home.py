from django.shortcuts import redirect

from backoffice.views.common import staff_view


@staff_view()
def home(request):
    """Send each role to the screen it starts its day on."""
    user = request.user
    if user.has_perm("orders.view_dashboard"):
        return redirect("backoffice:dashboard")
    if user.has_perm("orders.view_order") and not user.has_perm("inventory.view_stocklevel"):
        return redirect("backoffice:desk")
    if user.has_perm("inventory.view_stocklevel"):
        return redirect("backoffice:stock_list")
    return redirect("backoffice:desk")
