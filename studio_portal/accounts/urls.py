from django.contrib.auth import views as auth_views
from django.urls import path

from studio_portal.accounts import views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path("password-reset/", views.password_reset, name="password-reset"),
    path("password-reset/sent/", views.password_reset_sent, name="password-reset-sent"),
    path(
        "password-reset/<str:uidb64>/<str:token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("team/", views.team, name="team"),
    path("team/invite/", views.team_invite, name="team-invite"),
    path("team/<int:pk>/role/", views.team_role, name="team-role"),
    path("team/<int:pk>/remove/", views.team_remove, name="team-remove"),
    path("settings/", views.studio_settings, name="studio-settings"),
    path("settings/profile/", views.studio_profile, name="studio-profile"),
    path("invite/<str:uidb64>/<str:token>/", views.invite_accept, name="invite-accept"),
]
