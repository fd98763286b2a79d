"""harness.demo: the teaching demo behind `make demo`.

Runs a small cluster (fakeservers behind the balancer) through a story, shows the
balancer's view live in the terminal, and leaves a picture of the run: an SVG timeline and
an HTML page that replays it.

Modules, in the order data flows through them:
  scenarios.py  the story library: steps, captions, what each step does to the cluster
  cluster.py    the harness Cluster with backends A, B, C, and the pids.txt that proves none
                is left behind (slowing, killing, reviving: harness.cluster handles)
  traffic.py    client threads that send steady requests and record every answer
  observe.py    polls the balancer's /stats endpoint and turns changes into events
  record.py     the run's recording (thread safe), saved as run.json
  live.py       the terminal view (redrawn in place on a TTY, appended lines otherwise)
  svg.py        the timeline picture
  page.py       the HTML page with the picture, an explanation and a replay
  sample.py     a synthetic recording, for developing and testing the renderers alone
  run.py        the command line: `python3 -m harness.demo [--scenario NAME] [--speed X]`
"""
