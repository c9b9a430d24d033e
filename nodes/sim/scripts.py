"""Scripted meeting dialogue for generated test and benchmark recordings.

Plain sentences without digits, acronyms or names that a recogniser could legitimately
spell another way, so that word error rates measure recognition and nothing else.
"""

from __future__ import annotations

MEETING_LINES = [
    "Good morning everyone, thank you for joining the weekly planning meeting.",
    "We finished the new design for the login page and the tests are passing.",
    "That is great news. When can we show it to the customers?",
    "I think we can share it at the end of next week.",
    "Please send me a short summary after lunch so I can update the schedule.",
    "The budget for the second quarter is still under review.",
    "We should ask the finance team for a clear answer before Friday.",
    "I talked to them yesterday and they promised to reply soon.",
    "Let us move on to the hiring plan for the support team.",
    "We received many good applications for the open position.",
    "I would like to invite three people for a second interview.",
    "That sounds reasonable. Can you organise the meetings?",
    "Yes, I will send the invitations this afternoon.",
    "Another topic is the office move in the spring.",
    "The new building has more meeting rooms and a larger kitchen.",
    "Some people are worried about the longer commute.",
    "We could offer more flexible working hours to help them.",
    "I agree, and we should collect feedback from the whole team.",
    "Before we finish, does anyone have questions about the release?",
    "I have one question about the documentation for the new features.",
    "The writers need another week to finish the user guide.",
    "Then we will publish the guide together with the release notes.",
    "Thank you all for your time, let us meet again next Monday.",
    "Have a good week and see you soon.",
]
