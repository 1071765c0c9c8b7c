"""Container ids and Docker-style generated names (adjective_surname)."""

from __future__ import annotations

import re
import secrets

from dockyard.errors import InvalidArgument

_ADJECTIVES = (
    "admiring adoring affectionate amazing awesome blissful bold brave charming clever "
    "compassionate competent confident cool dazzling determined eager ecstatic elastic elated "
    "elegant eloquent epic exciting fervent festive flamboyant focused friendly frosty funny "
    "gallant gifted goofy gracious great happy hardcore heuristic hopeful hungry infallible "
    "inspiring intelligent interesting jolly jovial keen kind laughing loving lucid magical "
    "modest musing mystifying naughty nervous nice nifty nostalgic objective optimistic peaceful "
    "pedantic pensive practical priceless quirky quizzical relaxed reverent romantic sad serene "
    "sharp silly sleepy stoic strange stupefied suspicious sweet tender thirsty trusting "
    "upbeat vibrant vigilant vigorous wizardly wonderful xenodochial youthful zealous zen"
).split()
_SURNAMES = (
    "agnesi albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach "
    "bardeen bartik bassi beaver bell benz bhabha bhaskara blackwell bohr booth borg bose "
    "boyd brahmagupta brattain brown buck burnell cannon carson cartwright cerf chandrasekhar "
    "chaplygin chatelet chatterjee chebyshev cohen colden cori cray curie darwin davinci "
    "dijkstra dirac driscoll dubinsky easley edison einstein elbakyan elgamal elion ellis "
    "engelbart euclid euler faraday feistel fermat fermi feynman franklin gagarin galileo "
    "gates gauss germain goldberg goldstine goldwasser golick goodall gould greider hamilton "
    "haslett hawking heisenberg hermann herschel hertz hodgkin hofstadter hoover hopper hugle "
    "hypatia jackson jang jennings jepsen johnson joliot jones kalam kapitsa keldysh keller "
    "kepler khorana kilby kirch knuth kowalevski lalande lamarr lamport leakey leavitt lehmann "
    "lewin lichterman liskov lovelace lumiere mahavira margulis matsumoto maxwell mayer mccarthy "
    "mcclintock mclean mcnulty meitner mendel mendeleev merkle mestorf mirzakhani montalcini "
    "moore morse moser murdock napier nash neumann newton nightingale nobel noether northcutt "
    "noyce panini pare pascal pasteur payne perlman pike poincare poitras proskuriakova ptolemy "
    "raman ramanujan rhodes ride ritchie robinson roentgen rosalind rubin saha sammet sanderson "
    "satoshi shamir shannon shaw shirley shockley shtern sinoussi snyder solomon spence "
    "stonebraker sutherland swanson swartz swirles taussig tesla tharp thompson torvalds tu "
    "turing varahamihira vaughan villani visvesvaraya volhard wescoff wilbur wiles williams "
    "williamson wilson wing wozniak wright wu yalow yonath zhukovsky"
).split()

_VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def new_id() -> str:
    """A 64-hex-digit container or exec id."""
    return secrets.token_hex(32)


def random_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_SURNAMES)}"


def validate_name(name: str) -> str:
    """The name without its leading '/', or InvalidArgument in Docker's words."""
    if not _VALID_NAME.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")
