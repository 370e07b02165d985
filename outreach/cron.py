"""`rq cron outreach.cron` registers the periodic tick (production shape).

RQ evaluates cron strings in UTC; the tick itself decides in each practice's
own time zone what is due, so one UTC interval serves every practice.
"""
from rq import cron

from outreach import jobs, tasks

cron.register(tasks.tick, queue_name=jobs.QUEUE_NAME, interval=60)
