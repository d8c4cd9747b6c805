"""ehrcheck: is this health-IT product a siloed EMR or an interoperable, certifiable EHR?"""

__version__ = "0.1.0"
