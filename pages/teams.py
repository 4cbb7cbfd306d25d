"""Teams (administrators): the organisation name each team's patients see, the mailbox told of submissions, and
how the team files to the patient record."""

from __future__ import annotations

import streamlit as st

from portal_ui import session
from portal_ui.feedback import shown_on_page
from portal_ui.formatting import local_time
from portal_ui.runtime import actor
from shared.config.messaging import MAX_ORGANISATION_NAME
from shared.context import AppContext
from shared.staff.authentication import StaffUser
from shared.staff.teams import TeamSettings, all_teams, save_team_settings

NEW_TEAM = ""  # the choice that names a team nobody belongs to yet
FILE_ON_REVIEW = "File to the record automatically when marked as reviewed"
ALLOW_LOCAL_IDENTIFIER = "Allow filing under a local identifier when there is no NHS number"


def render(user: StaffUser, ctx: AppContext) -> None:
    default = ctx.settings.messaging.organisation_name
    st.title("Teams")
    st.caption(
        "A team's patients see its organisation name in every text message and email and on every page of the "
        f"upload service once they have confirmed their date of birth. Without one they see “{default}” "
        "(MIA_ORGANISATION_NAME). The team mailbox is emailed when a patient sends their photos and videos: "
        "the request's reference and a portal link, never patient details."
    )
    teams = all_teams(ctx)
    if teams:
        _table(teams, default)
    else:
        st.info("No team yet: teams appear here once a user belongs to one, or once you name one below.")
    _edit(user, ctx, teams, default)


def _table(teams: list[TeamSettings], default: str) -> None:
    st.dataframe(
        [
            {
                "Team": team.name,
                "Organisation name patients see": team.organisation_name or f"{default} (the default)",
                "Team mailbox": team.mailbox or "—",
                "Files when reviewed": "Yes" if team.file_on_review else "No",
                "Local identifier allowed": "Yes" if team.allow_local_identifier else "No",
                "Last changed": local_time(team.updated_at),
            }
            for team in teams
        ],
        hide_index=True,
        width="stretch",
    )


def _edit(user: StaffUser, ctx: AppContext, teams: list[TeamSettings], default: str) -> None:
    by_name = {team.name: team for team in teams}
    choice = st.selectbox(
        "Team to change",
        [*by_name, NEW_TEAM],
        format_func=lambda name: name or "A team not listed yet…",
        key="mia_teams_choice",
    )
    current = by_name.get(choice)
    with st.form(f"mia-team-{choice}"):
        name = st.text_input("Team name", max_chars=100) if choice == NEW_TEAM else choice
        organisation = st.text_input(
            "Organisation name patients see (blank: the default)",
            value=(current.organisation_name or "") if current else "",
            placeholder=default,
            max_chars=MAX_ORGANISATION_NAME,
            help=f"At most {MAX_ORGANISATION_NAME} characters, so that a text message still fits two parts.",
        )
        mailbox = st.text_input(
            "Team mailbox (blank: none)",
            value=(current.mailbox or "") if current else "",
            placeholder="dermatology.mia@nhs.net",
        )
        st.markdown("**Filing to the patient record**")
        file_on_review = st.toggle(
            FILE_ON_REVIEW,
            value=current.file_on_review if current else False,
            help="Each request is filed to every record destination that is on once a clinician marks it as "
            "reviewed, without pressing File to record.",
        )
        allow_local = st.toggle(
            ALLOW_LOCAL_IDENTIFIER,
            value=current.allow_local_identifier if current else False,
            help="Without this, a patient with no NHS number cannot be filed: the clinician is asked to add it. "
            "With it, they are filed under MIA's own identifier for the request, which the record team must "
            "match to the patient by hand.",
        )
        if st.form_submit_button("Save team settings", type="primary"):
            with shown_on_page():
                saved = save_team_settings(
                    ctx,
                    name,
                    organisation_name=organisation,
                    mailbox=mailbox,
                    file_on_review=file_on_review,
                    allow_local_identifier=allow_local,
                    actor=actor(user),
                )
                session.notify("success", f"Saved the settings of {saved.name}.")
                st.rerun()


if __name__ == "__main__":  # Streamlit ran this file by itself: the entry point answers (portal_app.main)
    import portal_app

    portal_app.main()
