"""Hand-written lexicons of the toy model's languages: the whole ``shapes`` domain, per language.

Each :class:`Lexicon` holds every form the domain needs, written out rather than derived by
rules, so that a speaker can check it line by line:

* ``objects[(color, shape)]``: the indefinite noun phrase with its agreement ("ein roter Kreis",
  "ein blaues Quadrat"; "een rode cirkel", "een rood vierkant"), built from per-gender forms;
* ``backgrounds``: the whole location phrase ("auf einem weißen Hintergrund", "su uno sfondo");
* ``questions`` and ``answers``: every question and answer the ``shapes`` source asks and gives;
* ``pieces``: the literal pieces of the instruction templates that ``shapes`` feeds (caption,
  short_caption, vqa, vqg), which polymix translates apart from the slot values.

Agreement notes. German: Kreis is masculine, Quadrat and Dreieck neuter, so after "ein" the
adjective ends in -er / -es; "lila" and "orange" do not inflect in the standard language, so
"violett" and "orangefarben" are used in attributive position. Dutch: cirkel and driehoek are
de-words (adjective + -e after "een"), vierkant a het-word (bare adjective). French, Spanish,
Italian and Portuguese: all three shapes and the background are masculine, and answers about a
colour refer to a masculine noun, so the masculine singular is always right. Swedish: all nouns
are en-words. The English source side (``polymix.mix.sources.shapes``) is the authority on which
strings exist; :mod:`polymix.translate.toy.corpus` checks that every one of them is covered.
"""

from __future__ import annotations

import dataclasses

COLORS = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES = ("circle", "square", "triangle")


@dataclasses.dataclass(frozen=True)
class Lexicon:
    code: str
    """NLLB language code"""
    name: str
    iso: str
    """ISO 639-1 code, as langid / CLD2 report it"""
    nouns: dict[str, tuple[str, str]]
    """shape -> (noun, gender)"""
    colors: dict[str, dict[str, str]]
    """colour -> gender -> attributive form after the indefinite article"""
    article: dict[str, str]
    """gender -> indefinite article"""
    pattern: str
    """the noun phrase, from {article} {color} {noun}"""
    and_: str
    backgrounds: dict[str, str]
    questions: dict[str, str]
    answers: dict[str, str]
    pieces: dict[str, str]

    def object(self, color: str, shape: str) -> str:
        noun, gender = self.nouns[shape]
        return self.pattern.format(article=self.article[gender], color=self.colors[color][gender], noun=noun)

    def caption(self, background: str, objects: tuple[tuple[str, str], ...]) -> str:
        parts = [self.object(c, s) for c, s in objects]
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {self.and_} " + parts[-1]
        text = f"{listed} {self.backgrounds[background]}."
        return text[0].upper() + text[1:]


def _same(forms: dict[str, str], gender: str = "m") -> dict[str, dict[str, str]]:
    return {color: {gender: form} for color, form in forms.items()}


def _q(
    how_many: str, color_of: dict[str, str], shape_at: dict[str, str], is_there: dict[str, str], background: str
) -> dict[str, str]:
    """The ``shapes`` questions, keyed by their English text."""
    out = {"How many shapes are there?": how_many, "What color is the background?": background}
    out.update({f"What color is the {shape}?": text for shape, text in color_of.items()})
    out.update({f"What shape is on the {side}?": text for side, text in shape_at.items()})
    out.update({f"Is there a {shape}?": text for shape, text in is_there.items()})
    return out


_ANSWER_KEYS = ("zero", "one", "two", "three", "yes", "no", *COLORS, "white", "black", "gray", *SHAPES)


def _a(words: str) -> dict[str, str]:
    """Answers in the order of ``_ANSWER_KEYS``, separated by '|'."""
    values = words.split("|")
    assert len(values) == len(_ANSWER_KEYS), values
    return dict(zip(_ANSWER_KEYS, values))


_PIECE_KEYS = (
    "Caption the image.",
    "Describe the image.",
    "Write a caption for this image.",
    "What does the image show? Answer in one sentence.",
    "Write a one-sentence description of the picture.",
    "Give a caption for this picture.",
    "Briefly describe the image.",
    "Short caption of the image.",
    "Describe the image in a few words.",
    "Write a short description of the image.",
    "Summarize the image in a short sentence.",
    "Short answer:",
    "Question:",
    "Answer briefly.",
    "Answer the question with one word or a short phrase.",
    "Answer in a few words.",
    "Look at the image and answer the question:",
    'Ask a question about the image whose answer is "',
    "Write a question about this image. The answer is:",
    'Given the image, what question has the answer "',
    'Generate a question about the picture that is answered by "',
    'The answer is "',
    '". What is the question about the image?',
)


def _p(*texts: str) -> dict[str, str]:
    assert len(texts) == len(_PIECE_KEYS), len(texts)
    return dict(zip(_PIECE_KEYS, texts))


GERMAN = Lexicon(
    "deu_Latn",
    "German",
    "de",
    nouns={"circle": ("Kreis", "m"), "square": ("Quadrat", "n"), "triangle": ("Dreieck", "n")},
    colors={
        "red": {"m": "roter", "n": "rotes"},
        "green": {"m": "grüner", "n": "grünes"},
        "blue": {"m": "blauer", "n": "blaues"},
        "yellow": {"m": "gelber", "n": "gelbes"},
        "purple": {"m": "violetter", "n": "violettes"},
        "orange": {"m": "orangefarbener", "n": "orangefarbenes"},
    },
    article={"m": "ein", "n": "ein"},
    pattern="{article} {color} {noun}",
    and_="und",
    backgrounds={
        "white": "auf einem weißen Hintergrund",
        "black": "auf einem schwarzen Hintergrund",
        "gray": "auf einem grauen Hintergrund",
    },
    questions=_q(
        "Wie viele Formen gibt es?",
        {
            "circle": "Welche Farbe hat der Kreis?",
            "square": "Welche Farbe hat das Quadrat?",
            "triangle": "Welche Farbe hat das Dreieck?",
        },
        {"left": "Welche Form ist links?", "right": "Welche Form ist rechts?"},
        {"circle": "Gibt es einen Kreis?", "square": "Gibt es ein Quadrat?", "triangle": "Gibt es ein Dreieck?"},
        "Welche Farbe hat der Hintergrund?",
    ),
    answers=_a("null|eins|zwei|drei|ja|nein|rot|grün|blau|gelb|violett|orange|weiß|schwarz|grau|Kreis|Quadrat|Dreieck"),
    pieces=_p(
        "Beschrifte das Bild.",
        "Beschreibe das Bild.",
        "Schreibe eine Bildunterschrift für dieses Bild.",
        "Was zeigt das Bild? Antworte in einem Satz.",
        "Schreibe eine Beschreibung des Bildes in einem Satz.",
        "Gib eine Bildunterschrift für dieses Bild an.",
        "Beschreibe das Bild kurz.",
        "Kurze Beschreibung des Bildes.",
        "Beschreibe das Bild in wenigen Worten.",
        "Schreibe eine kurze Beschreibung des Bildes.",
        "Fasse das Bild in einem kurzen Satz zusammen.",
        "Kurze Antwort:",
        "Frage:",
        "Antworte kurz.",
        "Beantworte die Frage mit einem Wort oder einer kurzen Wendung.",
        "Antworte in wenigen Worten.",
        "Sieh dir das Bild an und beantworte die Frage:",
        'Stelle eine Frage zum Bild mit der Antwort "',
        "Schreibe eine Frage zu diesem Bild. Die Antwort lautet:",
        'Welche Frage zum Bild hat die Antwort "',
        'Erzeuge eine Frage zum Bild für die Antwort "',
        'Die Antwort lautet "',
        '". Wie lautet die Frage zum Bild?',
    ),
)

FRENCH = Lexicon(
    "fra_Latn",
    "French",
    "fr",
    nouns={"circle": ("cercle", "m"), "square": ("carré", "m"), "triangle": ("triangle", "m")},
    colors=_same({"red": "rouge", "green": "vert", "blue": "bleu", "yellow": "jaune", "purple": "violet", "orange": "orange"}),
    article={"m": "un"},
    pattern="{article} {noun} {color}",
    and_="et",
    backgrounds={"white": "sur un fond blanc", "black": "sur un fond noir", "gray": "sur un fond gris"},
    questions=_q(
        "Combien de formes y a-t-il ?",
        {
            "circle": "De quelle couleur est le cercle ?",
            "square": "De quelle couleur est le carré ?",
            "triangle": "De quelle couleur est le triangle ?",
        },
        {"left": "Quelle forme est à gauche ?", "right": "Quelle forme est à droite ?"},
        {"circle": "Y a-t-il un cercle ?", "square": "Y a-t-il un carré ?", "triangle": "Y a-t-il un triangle ?"},
        "De quelle couleur est le fond ?",
    ),
    answers=_a("zéro|un|deux|trois|oui|non|rouge|vert|bleu|jaune|violet|orange|blanc|noir|gris|cercle|carré|triangle"),
    pieces=_p(
        "Légendez l'image.",
        "Décrivez l'image.",
        "Écrivez une légende pour cette image.",
        "Que montre l'image ? Répondez en une phrase.",
        "Écrivez une description de l'image en une phrase.",
        "Donnez une légende à cette image.",
        "Décrivez brièvement l'image.",
        "Courte légende de l'image.",
        "Décrivez l'image en quelques mots.",
        "Écrivez une courte description de l'image.",
        "Résumez l'image en une courte phrase.",
        "Réponse courte :",
        "Question :",
        "Répondez brièvement.",
        "Répondez à la question par un mot ou une courte expression.",
        "Répondez en quelques mots.",
        "Regardez l'image et répondez à la question :",
        "Posez une question sur l'image dont la réponse est \"",
        "Écrivez une question sur cette image. La réponse est :",
        "D'après l'image, quelle question a pour réponse \"",
        "Générez une question sur l'image qui a pour réponse \"",
        'La réponse est "',
        "\". Quelle est la question sur l'image ?",
    ),
)

SPANISH = Lexicon(
    "spa_Latn",
    "Spanish",
    "es",
    nouns={"circle": ("círculo", "m"), "square": ("cuadrado", "m"), "triangle": ("triángulo", "m")},
    colors=_same(
        {"red": "rojo", "green": "verde", "blue": "azul", "yellow": "amarillo", "purple": "morado", "orange": "naranja"}
    ),
    article={"m": "un"},
    pattern="{article} {noun} {color}",
    and_="y",
    backgrounds={"white": "sobre un fondo blanco", "black": "sobre un fondo negro", "gray": "sobre un fondo gris"},
    questions=_q(
        "¿Cuántas formas hay?",
        {
            "circle": "¿De qué color es el círculo?",
            "square": "¿De qué color es el cuadrado?",
            "triangle": "¿De qué color es el triángulo?",
        },
        {"left": "¿Qué forma está a la izquierda?", "right": "¿Qué forma está a la derecha?"},
        {"circle": "¿Hay un círculo?", "square": "¿Hay un cuadrado?", "triangle": "¿Hay un triángulo?"},
        "¿De qué color es el fondo?",
    ),
    answers=_a("cero|uno|dos|tres|sí|no|rojo|verde|azul|amarillo|morado|naranja|blanco|negro|gris|círculo|cuadrado|triángulo"),
    pieces=_p(
        "Pon un título a la imagen.",
        "Describe la imagen.",
        "Escribe una leyenda para esta imagen.",
        "¿Qué muestra la imagen? Responde en una oración.",
        "Escribe una descripción de la imagen en una oración.",
        "Da una leyenda para esta imagen.",
        "Describe brevemente la imagen.",
        "Leyenda breve de la imagen.",
        "Describe la imagen en pocas palabras.",
        "Escribe una descripción breve de la imagen.",
        "Resume la imagen en una oración corta.",
        "Respuesta corta:",
        "Pregunta:",
        "Responde brevemente.",
        "Responde a la pregunta con una palabra o una frase corta.",
        "Responde en pocas palabras.",
        "Mira la imagen y responde a la pregunta:",
        'Haz una pregunta sobre la imagen cuya respuesta sea "',
        "Escribe una pregunta sobre esta imagen. La respuesta es:",
        'Dada la imagen, ¿qué pregunta tiene la respuesta "',
        'Genera una pregunta sobre la imagen que se responda con "',
        'La respuesta es "',
        '". ¿Cuál es la pregunta sobre la imagen?',
    ),
)

ITALIAN = Lexicon(
    "ita_Latn",
    "Italian",
    "it",
    nouns={"circle": ("cerchio", "m"), "square": ("quadrato", "m"), "triangle": ("triangolo", "m")},
    colors=_same({"red": "rosso", "green": "verde", "blue": "blu", "yellow": "giallo", "purple": "viola", "orange": "arancione"}),
    article={"m": "un"},
    pattern="{article} {noun} {color}",
    and_="e",
    backgrounds={"white": "su uno sfondo bianco", "black": "su uno sfondo nero", "gray": "su uno sfondo grigio"},
    questions=_q(
        "Quante forme ci sono?",
        {
            "circle": "Di che colore è il cerchio?",
            "square": "Di che colore è il quadrato?",
            "triangle": "Di che colore è il triangolo?",
        },
        {"left": "Che forma c'è a sinistra?", "right": "Che forma c'è a destra?"},
        {"circle": "C'è un cerchio?", "square": "C'è un quadrato?", "triangle": "C'è un triangolo?"},
        "Di che colore è lo sfondo?",
    ),
    answers=_a("zero|uno|due|tre|sì|no|rosso|verde|blu|giallo|viola|arancione|bianco|nero|grigio|cerchio|quadrato|triangolo"),
    pieces=_p(
        "Scrivi una didascalia per l'immagine.",
        "Descrivi l'immagine.",
        "Scrivi una didascalia per questa immagine.",
        "Che cosa mostra l'immagine? Rispondi con una frase.",
        "Scrivi una descrizione dell'immagine in una sola frase.",
        "Dai una didascalia a questa foto.",
        "Descrivi brevemente l'immagine.",
        "Breve didascalia dell'immagine.",
        "Descrivi l'immagine in poche parole.",
        "Scrivi una breve descrizione dell'immagine.",
        "Riassumi l'immagine in una breve frase.",
        "Risposta breve:",
        "Domanda:",
        "Rispondi brevemente.",
        "Rispondi alla domanda con una parola o una breve frase.",
        "Rispondi in poche parole.",
        "Guarda l'immagine e rispondi alla domanda:",
        "Fai una domanda sull'immagine la cui risposta è \"",
        "Scrivi una domanda su questa immagine. La risposta è:",
        "Data l'immagine, quale domanda ha come risposta \"",
        'Genera una domanda sulla foto che abbia come risposta "',
        'La risposta è "',
        "\". Qual è la domanda sull'immagine?",
    ),
)

PORTUGUESE = Lexicon(
    "por_Latn",
    "Portuguese",
    "pt",
    nouns={"circle": ("círculo", "m"), "square": ("quadrado", "m"), "triangle": ("triângulo", "m")},
    colors=_same(
        {"red": "vermelho", "green": "verde", "blue": "azul", "yellow": "amarelo", "purple": "roxo", "orange": "laranja"}
    ),
    article={"m": "um"},
    pattern="{article} {noun} {color}",
    and_="e",
    backgrounds={"white": "sobre um fundo branco", "black": "sobre um fundo preto", "gray": "sobre um fundo cinza"},
    questions=_q(
        "Quantas formas há?",
        {"circle": "De que cor é o círculo?", "square": "De que cor é o quadrado?", "triangle": "De que cor é o triângulo?"},
        {"left": "Que forma está à esquerda?", "right": "Que forma está à direita?"},
        {"circle": "Há um círculo?", "square": "Há um quadrado?", "triangle": "Há um triângulo?"},
        "De que cor é o fundo?",
    ),
    answers=_a(
        "zero|um|dois|três|sim|não|vermelho|verde|azul|amarelo|roxo|laranja|branco|preto|cinza|círculo|quadrado|triângulo"
    ),
    pieces=_p(
        "Legende a imagem.",
        "Descreva a imagem.",
        "Escreva uma legenda para esta imagem.",
        "O que a imagem mostra? Responda em uma frase.",
        "Escreva uma descrição da figura em uma frase.",
        "Dê uma legenda para esta figura.",
        "Descreva brevemente a imagem.",
        "Legenda curta da imagem.",
        "Descreva a imagem em poucas palavras.",
        "Escreva uma breve descrição da imagem.",
        "Resuma a imagem em uma frase curta.",
        "Resposta curta:",
        "Pergunta:",
        "Responda brevemente.",
        "Responda à pergunta com uma palavra ou uma frase curta.",
        "Responda em poucas palavras.",
        "Olhe para a imagem e responda à pergunta:",
        'Faça uma pergunta sobre a imagem cuja resposta seja "',
        "Escreva uma pergunta sobre esta imagem. A resposta é:",
        'Dada a imagem, que pergunta tem a resposta "',
        'Gere uma pergunta sobre a figura que seja respondida por "',
        'A resposta é "',
        '". Qual é a pergunta sobre a imagem?',
    ),
)

DUTCH = Lexicon(
    "nld_Latn",
    "Dutch",
    "nl",
    nouns={"circle": ("cirkel", "de"), "square": ("vierkant", "het"), "triangle": ("driehoek", "de")},
    colors={
        "red": {"de": "rode", "het": "rood"},
        "green": {"de": "groene", "het": "groen"},
        "blue": {"de": "blauwe", "het": "blauw"},
        "yellow": {"de": "gele", "het": "geel"},
        "purple": {"de": "paarse", "het": "paars"},
        "orange": {"de": "oranje", "het": "oranje"},
    },
    article={"de": "een", "het": "een"},
    pattern="{article} {color} {noun}",
    and_="en",
    backgrounds={"white": "op een witte achtergrond", "black": "op een zwarte achtergrond", "gray": "op een grijze achtergrond"},
    questions=_q(
        "Hoeveel vormen zijn er?",
        {
            "circle": "Welke kleur heeft de cirkel?",
            "square": "Welke kleur heeft het vierkant?",
            "triangle": "Welke kleur heeft de driehoek?",
        },
        {"left": "Welke vorm staat links?", "right": "Welke vorm staat rechts?"},
        {"circle": "Is er een cirkel?", "square": "Is er een vierkant?", "triangle": "Is er een driehoek?"},
        "Welke kleur heeft de achtergrond?",
    ),
    answers=_a("nul|één|twee|drie|ja|nee|rood|groen|blauw|geel|paars|oranje|wit|zwart|grijs|cirkel|vierkant|driehoek"),
    pieces=_p(
        "Geef de afbeelding een bijschrift.",
        "Beschrijf de afbeelding.",
        "Schrijf een bijschrift bij deze afbeelding.",
        "Wat laat de afbeelding zien? Antwoord in één zin.",
        "Schrijf een beschrijving van de foto in één zin.",
        "Geef een bijschrift bij deze foto.",
        "Beschrijf de afbeelding kort.",
        "Kort bijschrift bij de afbeelding.",
        "Beschrijf de afbeelding in een paar woorden.",
        "Schrijf een korte beschrijving van de afbeelding.",
        "Vat de afbeelding samen in een korte zin.",
        "Kort antwoord:",
        "Vraag:",
        "Antwoord kort.",
        "Beantwoord de vraag met één woord of een korte zinsnede.",
        "Antwoord in een paar woorden.",
        "Bekijk de afbeelding en beantwoord de vraag:",
        'Stel een vraag over de afbeelding met als antwoord "',
        "Schrijf een vraag over deze afbeelding. Het antwoord is:",
        'Welke vraag over de afbeelding heeft als antwoord "',
        'Bedenk een vraag over de foto met als antwoord "',
        'Het antwoord is "',
        '". Wat is de vraag over de afbeelding?',
    ),
)

SWEDISH = Lexicon(
    "swe_Latn",
    "Swedish",
    "sv",
    nouns={"circle": ("cirkel", "en"), "square": ("kvadrat", "en"), "triangle": ("triangel", "en")},
    colors=_same({"red": "röd", "green": "grön", "blue": "blå", "yellow": "gul", "purple": "lila", "orange": "orange"}, "en"),
    article={"en": "en"},
    pattern="{article} {color} {noun}",
    and_="och",
    backgrounds={"white": "på en vit bakgrund", "black": "på en svart bakgrund", "gray": "på en grå bakgrund"},
    questions=_q(
        "Hur många former finns det?",
        {"circle": "Vilken färg har cirkeln?", "square": "Vilken färg har kvadraten?", "triangle": "Vilken färg har triangeln?"},
        {"left": "Vilken form är till vänster?", "right": "Vilken form är till höger?"},
        {"circle": "Finns det en cirkel?", "square": "Finns det en kvadrat?", "triangle": "Finns det en triangel?"},
        "Vilken färg har bakgrunden?",
    ),
    answers=_a("noll|en|två|tre|ja|nej|röd|grön|blå|gul|lila|orange|vit|svart|grå|cirkel|kvadrat|triangel"),
    pieces=_p(
        "Skriv en bildtext till bilden.",
        "Beskriv bilden.",
        "Skriv en bildtext till den här bilden.",
        "Vad visar bilden? Svara med en mening.",
        "Skriv en beskrivning av bilden på en mening.",
        "Ge den här bilden en bildtext.",
        "Beskriv bilden kortfattat.",
        "Kort bildtext till bilden.",
        "Beskriv bilden med några få ord.",
        "Skriv en kort beskrivning av bilden.",
        "Sammanfatta bilden i en kort mening.",
        "Kort svar:",
        "Fråga:",
        "Svara kortfattat.",
        "Besvara frågan med ett ord eller en kort fras.",
        "Svara med några få ord.",
        "Titta på bilden och besvara frågan:",
        'Ställ en fråga om bilden där svaret är "',
        "Skriv en fråga om den här bilden. Svaret är:",
        'Vilken fråga om bilden har svaret "',
        'Formulera en fråga om bilden som besvaras med "',
        'Svaret är "',
        '". Vad är frågan om bilden?',
    ),
)

LEXICONS: dict[str, Lexicon] = {lex.code: lex for lex in (GERMAN, FRENCH, SPANISH, ITALIAN, PORTUGUESE, DUTCH, SWEDISH)}
