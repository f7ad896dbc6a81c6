"""Sample stories (title, summary) for the shipped topic "Ukraine security guarantees",
written for these tests (no publisher's text). They measure seed profiles: ON_TOPIC are
stories the topic brief counts in, half of them paraphrases that avoid every word of the
shipped query's second half; NEAR_MISS are Ukraine stories the brief rules out (battlefield,
grain, energy, aid, domestic news) and other stories that share words with the topic
(troops, peacekeeping, guarantees elsewhere); OFF_TOPIC is unrelated news."""

from __future__ import annotations

ON_TOPIC: list[tuple[str, str]] = [
    (
        "Britain and France draw up plans for a reassurance force in Ukraine",
        "London and Paris are working on plans for a European force that would deploy to "
        "Ukraine after a ceasefire to deter a new Russian attack, officials said, with the "
        "United States asked to provide air cover and intelligence.",
    ),
    (
        "Pentagon planners weigh US role in protecting Ukraine after a peace deal",
        "Military planners in Washington are studying how the United States could back a "
        "European-led mission in Ukraine, including air policing and logistics, without "
        "sending American ground forces.",
    ),
    (
        "Kremlin rejects any Western soldiers in Ukraine as part of a settlement",
        "Moscow said it would not accept the deployment of forces from NATO countries in "
        "Ukraine under any flag after the war, calling the European proposals a red line.",
    ),
    (
        "German cabinet backs bill on bilateral security pact with Ukraine",
        "The agreement commits Berlin to long-term military support and to consultations "
        "within 24 hours if Ukraine is attacked again after a ceasefire; parliament votes on "
        "ratification next month.",
    ),
    (
        "Nordic states offer jets to police Ukrainian skies after a truce",
        "Sweden, Norway and Finland said their air forces could patrol Ukraine's airspace and "
        "protect its ports once a ceasefire holds, as part of Europe's commitments to deter "
        "Russia from attacking again.",
    ),
    (
        "Turkey offers to lead a naval mission protecting Ukraine's ports after the war",
        "Ankara said it could command a multinational mission to keep Odesa's ports open and "
        "clear mines once a peace agreement is signed, under national flags and outside NATO.",
    ),
    (
        "Zelensky says Kyiv needs binding commitments before any ceasefire",
        "Ukraine's president said a peace deal would only hold if Western allies gave legally "
        "binding pledges to defend the country, backed by troops on the ground and air "
        "defence systems.",
    ),
    (
        "Coalition of the willing meets in Paris to finalise post-war plans for Ukraine",
        "Leaders of some thirty countries agreed to set up a headquarters for a multinational "
        "force that would deploy to Ukraine after a ceasefire, with the United States "
        "providing support from outside the country.",
    ),
    (
        "Starmer: British troops would stay away from the front line in Ukraine",
        "The prime minister said UK troops sent to Ukraine under a security guarantee would "
        "protect cities, ports and skies rather than hold the line of contact with Russia.",
    ),
    (
        "Washington offers air support to back European security guarantees for Ukraine",
        "US officials said American fighter jets and air defense systems based in Poland and "
        "Romania could support a European force in Ukraine, while no US ground troops would "
        "be deployed.",
    ),
]

NEAR_MISS: list[tuple[str, str]] = [
    (
        "Russian drones strike Kharkiv power station overnight",
        "A wave of drones hit energy infrastructure in Kharkiv, leaving tens of thousands "
        "without electricity, Ukraine's air force said; two people were injured.",
    ),
    (
        "Ukraine's grain exports rise as Black Sea corridor holds",
        "Shipments of wheat and corn from Odesa's ports increased 12% in October, the "
        "agriculture ministry said, despite attacks on port infrastructure.",
    ),
    (
        "Ukrainian forces withdraw from village near Pokrovsk",
        "Ukraine's army said its troops had pulled back from positions east of Pokrovsk "
        "after weeks of heavy fighting, as Russian forces pressed their offensive in the "
        "Donetsk region.",
    ),
    (
        "EU approves 50 billion euro loan for Ukraine's budget",
        "The financing will keep the government in Kyiv paying pensions and salaries next "
        "year, finance ministers said after a meeting in Brussels.",
    ),
    (
        "Ukraine's central bank holds its key rate at 15.5%",
        "The National Bank of Ukraine kept borrowing costs unchanged, citing inflation "
        "driven by higher food and energy prices.",
    ),
    (
        "Russia and Ukraine swap prisoners of war in Emirati-brokered exchange",
        "Each side released 150 prisoners on Friday, the largest exchange in months, "
        "officials in Moscow and Kyiv said.",
    ),
    (
        "Kyiv's mayor opens a new metro station on the left bank",
        "The station, delayed by the war, will carry some 40,000 passengers a day, the city "
        "administration said.",
    ),
    (
        "UN peacekeepers in Lebanon come under fire near the border",
        "Two peacekeeping troops were lightly wounded when their patrol was shot at in "
        "southern Lebanon, the United Nations mission said.",
    ),
    (
        "US troops arrive in Poland for a NATO exercise",
        "Some 3,000 American soldiers will take part in drills on NATO's eastern flank over "
        "the next month, the Pentagon said.",
    ),
    (
        "Japan and the Philippines sign a defence pact",
        "The agreement lets each country's forces train on the other's territory, as both "
        "grow wary of China's military activity in the South China Sea.",
    ),
    (
        "Ukraine's parliament passes a law on gambling advertising",
        "Lawmakers in Kyiv voted to ban gambling adverts on television and to cap online "
        "betting limits, the bill's sponsors said.",
    ),
    (
        "Gas prices in Europe climb as a cold snap bites",
        "Benchmark Dutch gas futures rose 8% on Monday as forecasters predicted freezing "
        "temperatures across the continent and storage levels fell.",
    ),
]

OFF_TOPIC: list[tuple[str, str]] = [
    (
        "Rail strike disrupts commuters across England",
        "Train drivers walked out on Tuesday in a dispute over pay, cancelling most services "
        "on the busiest commuter lines.",
    ),
    (
        "Wildfires force thousands to evacuate in California",
        "Firefighters battled three large blazes fanned by strong winds, and officials "
        "ordered residents of several towns to leave their homes.",
    ),
    (
        "Apple unveils a new iPhone with a faster chip",
        "The company said the phone's battery lasts longer and its camera takes better "
        "pictures in low light; prices start at $799.",
    ),
    (
        "Real Madrid beat Bayern with a late goal in the Champions League",
        "A header in stoppage time sent the Spanish club through to the final in front of a "
        "sold-out crowd.",
    ),
    (
        "US Senate passes a spending bill to avert a government shutdown",
        "The measure funds federal agencies until March and now goes to the House, where "
        "its passage is uncertain.",
    ),
    (
        "Bank of Japan raises interest rates for the first time in years",
        "The central bank lifted its short-term rate, saying wages and prices were rising "
        "steadily enough to end its ultra-loose policy.",
    ),
    (
        "Storm floods coastal towns in Portugal",
        "Heavy rain flooded streets in several towns overnight and emergency services moved "
        "residents to shelters.",
    ),
    (
        "City council votes to extend night bus services",
        "The new timetable adds buses after midnight on weekends from next month, the "
        "council said.",
    ),
]
