"""The words the rules model listens for, in English, German, French and Spanish.

Data only: phrases are written folded (lower case, no accents or apostrophes, as
`app.domain.text_matching.fold` leaves customers' words), one phrase a string of words matched
in order.
Kept apart from the matching code so that adding a phrase is a one-line change.
"""

from __future__ import annotations

HUMAN_WORDS = (
    "human", "humans", "agent", "representative", "operator", "real person", "live person",
    "live agent", "real agent", "actual person", "human being", "staff member", "team member",
    "customer service agent", "support agent", "manager", "supervisor", "mensch", "menschen",
    "mitarbeiter",
    "mitarbeiterin", "kundenberater", "humain", "conseiller", "conseillere", "vraie personne",
    "humano", "persona real", "agente",
)  # fmt: skip
TALK_WORDS = (
    "talk", "speak", "chat", "connect", "transfer", "contact", "reach", "call", "sprechen",
    "reden", "verbinden", "parler", "discuter", "hablar", "comunicar",
)  # fmt: skip
SOMEONE_WORDS = (
    "someone", "somebody", "person", "agent", "people", "jemand", "jemandem", "jemanden",
    "person", "quelqu un", "quelquun", "personne", "alguien", "persona",
)  # fmt: skip

GREETING = (
    "hi", "hello", "hey", "hiya", "howdy", "yo", "good morning", "good afternoon",
    "good evening", "morning", "hallo", "guten tag", "guten morgen", "moin", "servus",
    "bonjour", "salut", "bonsoir", "hola", "buenos dias", "buenas tardes", "buenas",
)  # fmt: skip
THANKS = (
    "thanks", "thank", "thx", "ty", "cheers", "appreciate", "appreciated", "danke",
    "vielen dank", "merci", "gracias", "much obliged", "great thanks", "perfect thanks",
)  # fmt: skip
GOODBYE = (
    "bye", "goodbye", "bye bye", "see you", "see ya", "cya", "thats all", "that is all",
    "have a nice day", "have a good day", "good night", "later", "tschuss", "auf wiedersehen",
    "ciao", "au revoir", "a bientot", "adios", "hasta luego", "chao",
)  # fmt: skip
SMALL_TALK = (
    "how are you", "how r u", "how are u", "how is it going", "hows it going", "how do you do",
    "whats up", "wassup", "who are you", "what are you", "whats your name",
    "what is your name", "are you a bot", "are you a robot", "are you human",
    "are you a human", "are you real", "are you an ai", "wie geht", "wie gehts", "ca va",
    "comment allez", "comment vas", "que tal", "como estas", "como esta usted",
)  # fmt: skip

# Asking who or what the assistant is: small talk, even with "human" or "talk" in it.
IDENTITY = (
    "am i talking to", "am i speaking to", "am i chatting with", "am i chatting to",
    "is this a bot", "is this a robot", "is this a real", "is this a human", "is this a person",
    "is this an ai", "who am i talking to", "who am i speaking to", "who is this",
    "are you a real person", "are you a person",
)  # fmt: skip
# Asking whether it is a machine (part of SMALL_TALK): answered with what it is and can do.
BOT_QUESTIONS = (
    "who are you", "what are you", "are you a bot", "are you a robot", "are you human",
    "are you a human", "are you real", "are you an ai",
)  # fmt: skip
# Asking what the assistant can do; only as the whole turn ("help", "what can you do?"):
# "can you help me with a return" asks for the return.
CAPABILITIES = (
    "help", "menu", "options", "what can you do", "what else can you do", "what can you help",
    "what can you help me with", "what can you help with", "what do you do", "how can you help",
    "what are you able to do", "what are you for", "i have a question", "i need help",
    "i need some help", "can you help me", "can you help", "help me", "need help",
    "hilfe", "aide", "ayuda",
    # a bare reaction asks nothing: what the assistant can do is the useful answer
    "lol", "haha", "hahaha", "hmm", "hm", "mmm", "huh", "meh", "wow", "interesting",
)  # fmt: skip
CANCEL = (
    "cancel", "never mind", "nevermind", "forget it", "stop", "abort", "quit", "dont bother",
    "start over", "abbrechen", "vergiss es", "annuler", "laisse tomber", "cancelar",
    "olvidalo", "dejalo",
)  # fmt: skip
# Cancelling an order (not the conversation's flow): said together with an order number.
CANCEL_ORDER = (
    "cancel", "cancelled", "canceled", "cancellation", "call off", "stornieren", "storniere",
    "stornierung", "annuler", "annulez", "annulation", "cancelar", "cancelacion", "anular",
)  # fmt: skip
CONFIRM = (
    "yes", "y", "yeah", "yep", "yup", "yes please", "sure", "ok", "okay", "go ahead",
    "cool", "great", "fine", "alright", "all right", "got it", "perfect", "sounds great",
    "do it", "please do", "confirm", "confirmed", "correct", "sounds good", "absolutely",
    "of course", "ja", "jawohl", "genau", "oui", "bien sur", "d accord", "si", "claro",
    "vale",
)  # fmt: skip
DENY = (
    "no", "n", "nope", "nah", "dont", "do not", "not now", "no thanks", "no thank you",
    "nein", "non", "no gracias",
)  # fmt: skip

REFUND = (
    "refund", "refunded", "refunding", "money back", "my money", "reimburse", "reimbursement",
    "chargeback", "rueckerstattung", "ruckerstattung", "erstattung", "erstatten",
    "geld zuruck", "geld ... zuruck", "mein geld", "remboursement", "rembourser", "rembourse",
    "remboursez", "reembolso",
    "reembolsar", "reembolsen", "devolucion del dinero", "devuelvan mi dinero",
    "mi dinero", "el dinero", "devuelvanme", "devuelvame", "dinero de vuelta",
)  # fmt: skip
RETURN = (
    "return", "returning", "send ... back", "give ... back", "take ... back", "bring ... back",
    "ship ... back", "mail ... back", "post ... back", "zuruckgeben", "zurucksenden",
    "zuruckschicken", "rucksendung", "ruckgabe", "rueckgabe", "zuruckbringen", "rendre",
    "retournieren", "retour", "retourner", "renvoyer", "devolver", "devolucion",
    "mandar de vuelta",
)  # fmt: skip
EXPORT = (
    "export", "copy of my data", "copy of my personal data", "copy of my account",
    "download my data", "download my account", "my data", "my personal data",
    "data export", "all my data", "data you have", "data you hold", "data you keep",
    "data you store", "everything you have", "everything you hold", "everything you keep",
    "everything you store", "info you keep", "info you have", "info you hold",
    "information you keep", "information you have", "information you hold", "my info",
    "my information", "personal information", "personal info", "all the info", "gdpr",
    "about me", "on me", "order history", "purchase history", "list of my orders",
    "list of all my orders", "all my orders", "all of my orders", "show me my orders",
    "list my orders", "every order", "all my purchases", "orders have i placed",
    "orders i have placed", "orders ive placed", "orders i placed",
    "meine daten", "datenexport", "daten exportieren", "mes donnees", "exporter",
    "mis datos", "exportar",
)  # fmt: skip
STATUS = (
    "where is", "wheres", "where s", "status", "track", "tracking", "shipped", "arrive",
    "arrived", "arriving", "arrival", "delivered", "eta", "when will", "when does",
    "whats up with", "what about", "any news", "update on", "happened to", "wo ist",
    "wo bleibt", "sendung", "wann kommt", "angekommen", "ou est", "ou en est", "suivi",
    "quand arrive", "arrivera", "donde esta", "seguimiento", "cuando llega", "estado",
    "llegara", "help with", "problem with", "issue with", "question about", "hasnt come",
    "has not come", "not come", "not here", "still not", "still waiting", "hasnt arrived",
    "not arrived", "hasnt shown up", "hasnt turned up",
)  # fmt: skip
MY_ORDER = (
    "my order", "my package", "my parcel", "my delivery", "my purchase", "my shipment",
    "my stuff", "my item", "my items", "the order", "the package", "the parcel", "my orders",
    "my ... order", "my ... parcel", "my ... package", "i ordered", "what i ordered",
    "meine bestellung", "mein paket", "meine lieferung", "meine sendung", "ma commande",
    "mon colis", "ma livraison", "mi pedido", "mi paquete", "mi envio", "mi entrega",
)  # fmt: skip

# The customer's most recent order, named without its number.
LATEST_ORDER = (
    "my last order", "my latest order", "my most recent order", "my recent order",
    "my newest order", "the last order", "the latest order", "last thing i ordered",
    "my last purchase", "my latest purchase", "my last parcel", "my last package",
    "my last delivery", "what i ordered last", "meine letzte bestellung", "ma derniere commande",
    "mi ultimo pedido",
)  # fmt: skip
# A general question about a policy is for the FAQ, not an action on an order.
QUESTION_STARTS = (
    "how", "what", "whats", "why", "which", "who", "do you", "does", "is there", "are there",
    "can i", "could i", "is it", "are you", "when do", "when does", "how long",
    "how much", "is", "are", "do i", "will", "when will i", "when can i", "when should i",
    "where does", "where do i", "where will", "wie", "was", "warum", "kann ich", "comment",
    "quel", "quelle", "pourquoi", "est ce", "puis je", "como", "que", "cual", "por que",
    "puedo",
)  # fmt: skip
# ...except these, which ask where the customer's own order stands ("what's the status of my
# order?", "when will I get my parcel?").
STATUS_QUESTION_STARTS = (
    "whats the status", "what is the status", "whats happening", "what is happening",
    "whats going on", "what is going on", "whats up with", "when will", "when does",
    "when do i get", "when can i expect", "how is my", "hows my",
)  # fmt: skip
# The carrier says it was delivered, the customer has nothing: the FAQ's advice, not a lookup.
DELIVERED_NOT_RECEIVED = (
    "says ... delivered", "shows ... delivered", "marked ... delivered", "delivered ... but",
    "dropped off ... but", "says ... arrived", "shows ... arrived", "arrived ... but ... not",
    "delivered ... not here", "delivered ... nothing", "delivered ... cant find",
    "delivered ... never got", "delivered ... didnt get", "delivered ... not received",
)  # fmt: skip
# Asking for something as a question ("can I get a data export?"): a request all the same.
REQUEST_STARTS = (
    "can i get", "can i have", "could i get", "could i have", "may i have", "may i get",
    "can i please get", "can i please have",
)  # fmt: skip
# Asking about the rules, not for an action: "your send-back rules", "return policy".
POLICY = (
    "rules", "rule", "policy", "policies", "conditions", "terms", "summary", "explain",
    "information about", "info about", "regeln", "bedingungen", "politique", "politica",
    "condiciones",
)  # fmt: skip
# Asking where a refund already given is: a question about timing, not a new refund.
REFUND_PENDING = (
    "still no refund", "no refund yet", "still waiting ... refund", "still waiting ... money",
    "havent been refunded", "not been refunded", "still not refunded", "not refunded yet",
    "havent received my refund", "havent got my refund", "havent gotten my refund",
    "refund hasnt arrived", "refund has not arrived", "refund still", "wheres my refund",
    "where is my refund", "wheres my money", "where is my money", "no money yet",
    "still no money", "when will my refund", "when will i get my refund", "when does my refund",
    "when do i get my refund", "when is my refund", "refund arrive", "refund come",
    "refund show up", "refund take",
)  # fmt: skip
# ...unless the customer says they want it done.
WANT = (
    "i want", "i wanna", "i would like", "id like", "i d like", "i need", "please",
    "pls", "plz", "give me", "send me", "get me", "i wish", "let me", "start", "open",
    "can you", "could you", "would you", "help me", "i want to", "download it", "send it",
    "email it", "for me", "ich mochte",
    "ich will", "ich brauche", "bitte", "je veux", "je voudrais", "j aimerais", "jaimerais",
    "je souhaite", "quiero", "quisiera", "necesito", "me gustaria", "por favor",
)  # fmt: skip

REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "not_delivered",
        (
            "never arrived",
            "never came",
            "never got",
            "never received",
            "not arrived",
            "not delivered",
            "didnt arrive",
            "did not arrive",
            "didnt get",
            "did not get",
            "didnt come",
            "hasnt arrived",
            "has not arrived",
            "havent received",
            "lost",
            "never showed",
            "never shown",
            "didnt show",
            "never turned up",
            "not turned up",
            "still waiting",
            "nie angekommen",
            "nicht angekommen",
            "nicht bekommen",
            "jamais arrive",
            "jamais recu",
            "pas recu",
            "pas arrive",
            "nunca llego",
            "no ha llegado",
            "no llego",
            "no recibi",
        ),
    ),
    (
        "damaged",
        (
            "broken",
            "broke",
            "damaged",
            "cracked",
            "smashed",
            "defective",
            "faulty",
            "torn",
            "doesnt work",
            "does not work",
            "not working",
            "stopped working",
            "dead on arrival",
            "scratched",
            "dented",
            "kaputt",
            "beschadigt",
            "defekt",
            "zerbrochen",
            "casse",
            "cassee",
            "abime",
            "abimee",
            "endommage",
            "defectueux",
            "roto",
            "rota",
            "danado",
            "danada",
            "defectuoso",
            "estropeado",
        ),
    ),
    (
        "wrong_item",
        (
            "wrong item",
            "wrong size",
            "wrong color",
            "wrong colour",
            "wrong product",
            "wrong one",
            "wrong thing",
            "not what i ordered",
            "different item",
            "falsch",
            "falsche",
            "falschen",
            "mauvais article",
            "pas le bon",
            "pas ce que",
            "equivocado",
            "incorrecto",
            "no es lo que",
        ),
    ),
    (
        "does_not_fit",
        (
            "doesnt fit",
            "does not fit",
            "dont fit",
            "not fit",
            "too small",
            "too big",
            "too large",
            "too tight",
            "too loose",
            "too short",
            "too long",
            "passt nicht",
            "zu klein",
            "zu gross",
            "trop petit",
            "trop grand",
            "ne me va pas",
            "no me queda",
            "pequeno",
            "demasiado grande",
        ),
    ),
    (
        "changed_mind",
        (
            "changed my mind",
            "change of mind",
            "dont want",
            "do not want",
            "dont need",
            "do not need",
            "dont like",
            "do not like",
            "no longer",
            "not needed",
            "not want it",
            "anders uberlegt",
            "brauche es nicht",
            "plus besoin",
            "change d avis",
            "ya no",
            "no lo quiero",
            "cambie de opinion",
        ),
    ),
)

# Words only one language uses, to notice a turn in German, French or Spanish.
LANGUAGE_MARKERS = {
    "de": (
        "ich", "meine", "mein", "bestellung", "wo", "ist", "bitte", "mochte", "zuruckgeben",
        "ruckerstattung", "rueckerstattung", "sprechen", "danke", "hallo", "nicht", "paket",
        "geld", "einem", "mit", "und", "kaputt", "menschen", "mensch", "wann", "kommt",
        "sendung", "zurucksenden", "erstattung", "erstatten", "lieferung", "ruckgabe", "wie",
        "lange", "dauert", "kann", "bezahlen", "habe", "bekommen", "ware", "versand", "konto",
        "geliefert", "schon", "unterwegs", "von", "hatte", "gerne", "sie", "mir", "konnen",
        "sagen", "bleibt", "verbinden", "echten", "zuruckschicken", "zuruckbringen",
    ),
    "fr": (
        "je", "ma", "mon", "commande", "ou", "voudrais", "veux", "remboursement", "retourner",
        "parler", "humain", "merci", "bonjour", "colis", "une", "avec", "est", "casse", "pas",
        "rembourser", "renvoyer", "quelqu", "personne", "suivi", "livraison", "svp", "rendre",
        "combien", "temps", "recu", "puis", "payer", "compte", "abimee", "pourquoi", "quand",
        "vais", "recevoir", "vous", "sil", "plait", "passez", "conseiller", "pouvez", "dire",
        "elle", "souhaiterais", "theiere",
    ),
    "es": (
        "mi", "pedido", "donde", "esta", "quiero", "devolver", "reembolso", "hablar",
        "persona", "gracias", "hola", "con", "una", "paquete", "roto", "llego", "dinero",
        "alguien", "seguimiento", "devolucion", "por", "favor", "cuanto", "tarda", "envio",
        "puedo", "necesito", "ayuda", "recibido", "pagar", "cuenta", "danado", "cuando",
        "llega", "gustaria", "devuelvanme", "puede", "decir", "paseme", "agente", "tetera",
        "rota",
    ),
}  # fmt: skip
